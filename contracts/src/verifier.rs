//! The call `PrecompileVerifier` makes to the embedded chain's verifier precompile.
//!
//! The embedded chain installs, at [`VERIFIER_PRECOMPILE`], a precompile that runs
//! `manyfold_prover::verify` on its input and answers one word: 1 when the proof holds, 0
//! otherwise. Its input is
//! `abi.encode(bytes32 vkDigest, oldStateRoot, oldCommitment, newStateRoot, newCommitment,
//! uint64 steps, bytes proof)`: `vkDigest` is the verifying-key digest `PrecompileVerifier`
//! was deployed with (`manyfold_prover::verifying_key_digest`); the precompile must verify
//! only against the key of that digest and answer 0 for any other.

use alloy_primitives::{Bytes, B256, U256};
use alloy_sol_types::{sol, SolValue};

pub use crate::bindings::VERIFIER_PRECOMPILE;

sol! {
    /// The precompile's input, field for field.
    #[derive(Debug, PartialEq, Eq)]
    struct VerifierInput {
        bytes32 vk_digest;
        bytes32 oldStateRoot;
        bytes32 oldCommitment;
        bytes32 newStateRoot;
        bytes32 newCommitment;
        uint64 steps;
        bytes proof;
    }
}

/// Why an input could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("verifier precompile input is not abi.encode(bytes32 x5, uint64, bytes): {0}")]
pub struct InputError(String);

impl VerifierInput {
    /// The bytes `PrecompileVerifier` sends.
    pub fn encode(&self) -> Vec<u8> {
        self.abi_encode_params()
    }

    /// Reads what `PrecompileVerifier` sent; strict, so one statement has one encoding.
    pub fn decode(input: &[u8]) -> Result<Self, InputError> {
        let decoded =
            Self::abi_decode_params_validate(input).map_err(|e| InputError(e.to_string()))?;
        if decoded.encode() != input {
            return Err(InputError("not in canonical form".into()));
        }
        Ok(decoded)
    }
}

/// The precompile's answer.
pub fn verifier_output(valid: bool) -> Bytes {
    Bytes::from(B256::from(U256::from(valid as u8)).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> VerifierInput {
        VerifierInput {
            vk_digest: B256::repeat_byte(0x0d),
            oldStateRoot: B256::repeat_byte(1),
            oldCommitment: B256::repeat_byte(2),
            newStateRoot: B256::repeat_byte(3),
            newCommitment: B256::repeat_byte(4),
            steps: 9,
            proof: Bytes::from_static(&[0xc0, 0xff, 0xee]),
        }
    }

    #[test]
    fn the_layout_is_solidity_abi_encode_of_the_seven_values() {
        let bytes = input().encode();
        // the key digest, four words, the steps word, the offset of `proof` (seven head
        // words), its length, then its bytes padded to a word
        assert_eq!(bytes.len(), 32 * 9);
        assert_eq!(&bytes[0..32], B256::repeat_byte(0x0d).as_slice());
        assert_eq!(&bytes[32..64], B256::repeat_byte(1).as_slice());
        assert_eq!(&bytes[128..160], B256::repeat_byte(4).as_slice());
        assert_eq!(U256::from_be_slice(&bytes[160..192]), U256::from(9));
        assert_eq!(U256::from_be_slice(&bytes[192..224]), U256::from(224));
        assert_eq!(U256::from_be_slice(&bytes[224..256]), U256::from(3));
        assert_eq!(&bytes[256..259], &[0xc0, 0xff, 0xee]);
        assert_eq!(VerifierInput::decode(&bytes).unwrap(), input());
    }

    #[test]
    fn malformed_inputs_are_refused() {
        let bytes = input().encode();
        assert!(VerifierInput::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(VerifierInput::decode(&[]).is_err());
        let mut extra = bytes.clone();
        extra.extend_from_slice(&[0u8; 32]);
        assert!(VerifierInput::decode(&extra).is_err(), "trailing bytes");
        let mut steps_overflow = bytes.clone();
        steps_overflow[160] = 1; // a uint64 with high bits set
        assert!(VerifierInput::decode(&steps_overflow).is_err());
    }

    #[test]
    fn answers_are_one_word() {
        assert_eq!(verifier_output(true).len(), 32);
        assert_eq!(verifier_output(true)[31], 1);
        assert_eq!(verifier_output(false), Bytes::from(vec![0u8; 32]));
    }
}
