// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @title The Poseidon hash of the L2 state and the pubdata commitment
interface IPoseidon {
    /// @notice One permutation of `[tag, inputs]`: the L2's hash of up to four field
    /// elements under the use and arity that `tag` encodes.
    function hash(uint256 tag, uint256[4] calldata inputs) external pure returns (uint256);

    /// @notice The root of a quaternary Merkle tree of the L2 state (node hash: the Node
    /// domain over four children) from a leaf at `index` and, per level from the leaves
    /// up, the three other children in child order. Reverts if `index` does not fit.
    function merkleRoot(uint256 index, uint256 leaf, uint256[] calldata siblings) external pure returns (uint256);

    /// @notice Extends the pubdata commitment over whole 64-byte records:
    /// `c' = H_pubdata(c, bytes[0..31], bytes[31..62], bytes[62..64])` for each record.
    function extendCommitment(uint256 commitment, bytes calldata pubdata) external pure returns (uint256);
}
