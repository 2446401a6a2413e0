// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {IVerifier, ProofPublicValues} from "./interfaces/IVerifier.sol";

/// @title The verifier of the embedded chain: nova-snark's verifier as a precompile
/// @notice The embedded chain runs nova-snark's compressed-SNARK verifier natively at
/// `PRECOMPILE`. Input: `abi.encode(bytes32 vkDigest, oldStateRoot, oldCommitment,
/// newStateRoot, newCommitment, uint64 steps, bytes proof)`: the precompile verifies only
/// against the verifying key of `vkDigest` (an unknown digest is an invalid proof), and
/// this contract names the digest it was deployed with (DESIGN §5, SPEC E). Output: one
/// word, 1 when the proof holds. On a chain without the precompile the call returns no
/// data, which reads as invalid.
contract PrecompileVerifier is IVerifier {
    /// Where the embedded chain installs the verifier ("f01d": fold).
    address public constant PRECOMPILE = address(0xF01D);
    /// The digest of the one verifying key this verifier accepts proofs under
    /// (`manyfold_prover::verifying_key_digest`), fixed at deployment.
    bytes32 public immutable verifyingKeyDigest;

    constructor(bytes32 verifyingKeyDigest_) {
        verifyingKeyDigest = verifyingKeyDigest_;
    }

    /// @inheritdoc IVerifier
    function verify(ProofPublicValues calldata values, bytes calldata proof) external view returns (bool) {
        (bool ok, bytes memory out) = PRECOMPILE.staticcall(
            abi.encode(
                verifyingKeyDigest,
                values.oldStateRoot,
                values.oldCommitment,
                values.newStateRoot,
                values.newCommitment,
                values.steps,
                proof
            )
        );
        return ok && out.length == 32 && abi.decode(out, (uint256)) == 1;
    }
}
