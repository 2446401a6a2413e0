// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @notice What a proof of a block range claims: the IVC state [state root, pubdata
/// commitment] before and after. `steps` is passed through for the verifier's own
/// bookkeeping; it carries no security weight, since the commitment binds every op.
struct ProofPublicValues {
    bytes32 oldStateRoot;
    bytes32 oldCommitment;
    bytes32 newStateRoot;
    bytes32 newCommitment;
    uint64 steps;
}

/// @title A verifier of the L2's folding proofs
interface IVerifier {
    /// @return Whether `proof` proves the transition `values` claims.
    function verify(ProofPublicValues calldata values, bytes calldata proof) external view returns (bool);
}
