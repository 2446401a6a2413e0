//! Call, event and error types of the settlement contracts, from the committed artifacts.
//!
//! Each deployable contract is a module of its own name (`Primary`, `Secondary`,
//! `PoseidonT5`, `PrecompileVerifier`), with e.g. `Primary::commitBlocksCall` to ABI-encode
//! a commit and `Primary::BlockCommit` to decode its log. (The artifacts also carry the
//! `IVerifier` and `IPoseidon` ABIs, for integrators binding their own implementations.)
//! `DevToken` is an ERC-20 for devnets and tests only.
#![allow(missing_docs, clippy::too_many_arguments)]

use alloy_primitives::{hex, Address, Bytes};

alloy_sol_types::sol!(
    #[sol(all_derives)]
    Primary,
    "artifacts/Primary.json"
);
alloy_sol_types::sol!(
    #[sol(all_derives)]
    Secondary,
    "artifacts/Secondary.json"
);
alloy_sol_types::sol!(PoseidonT5, "artifacts/PoseidonT5.json");
alloy_sol_types::sol!(PrecompileVerifier, "artifacts/PrecompileVerifier.json");
alloy_sol_types::sol!(
    #[sol(all_derives)]
    DevToken,
    "artifacts/DevToken.json"
);

/// The address at which the embedded chain must install the proof-verifying precompile
/// that [`PrecompileVerifier`] calls.
pub const VERIFIER_PRECOMPILE: Address = Address::new([
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x1d,
]);

/// A deployable contract of the artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    /// The primary settlement contract.
    Primary,
    /// A secondary settlement contract.
    Secondary,
    /// The Poseidon contract the primary hashes with.
    PoseidonT5,
    /// The verifier calling [`VERIFIER_PRECOMPILE`].
    PrecompileVerifier,
    /// An ERC-20 minted at construction, for devnets and tests only (constructor
    /// `(string name, string symbol, uint8 decimals, address[] holders, uint256 amountEach)`).
    DevToken,
}

impl Artifact {
    fn json(self) -> &'static str {
        match self {
            Artifact::Primary => include_str!("../artifacts/Primary.json"),
            Artifact::Secondary => include_str!("../artifacts/Secondary.json"),
            Artifact::PoseidonT5 => include_str!("../artifacts/PoseidonT5.json"),
            Artifact::PrecompileVerifier => include_str!("../artifacts/PrecompileVerifier.json"),
            Artifact::DevToken => include_str!("../artifacts/DevToken.json"),
        }
    }

    /// Creation bytecode (constructor arguments are appended ABI-encoded).
    pub fn bytecode(self) -> Bytes {
        let artifact: serde_json::Value =
            serde_json::from_str(self.json()).expect("committed artifacts are JSON");
        let code = artifact["bytecode"]
            .as_str()
            .expect("artifacts carry bytecode");
        Bytes::from(hex::decode(code).expect("bytecode is hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::{SolCall, SolConstructor, SolError, SolEvent};

    #[test]
    fn every_artifact_has_creation_code() {
        for artifact in [
            Artifact::Primary,
            Artifact::Secondary,
            Artifact::PoseidonT5,
            Artifact::PrecompileVerifier,
            Artifact::DevToken,
        ] {
            assert!(artifact.bytecode().len() > 100, "{artifact:?}");
        }
    }

    #[test]
    fn bindings_name_the_settlement_calls() {
        assert_eq!(
            Primary::commitBlocksCall::SIGNATURE,
            "commitBlocks((uint32,uint32,uint64,uint64,bytes32,bytes32,bytes32,bytes32),bytes32[],(uint32,uint64,bytes32,bytes,bytes[])[])"
        );
        assert_eq!(
            Secondary::commitCompressedBlocksCall::SIGNATURE,
            "commitCompressedBlocks((uint32,uint32,uint64,uint64,bytes32,bytes32,bytes32,bytes32),(uint32,uint64,bytes32,bytes,bytes[])[])"
        );
        assert_eq!(
            Primary::BlockCommit::SIGNATURE,
            "BlockCommit(uint32,uint32,bytes32,bytes32)"
        );
        assert_eq!(
            Secondary::receiveConfirmationCall::SIGNATURE,
            "receiveConfirmation(uint32,bytes32,bytes32,bytes[])"
        );
        assert_eq!(
            Secondary::revertBlocksCall::SIGNATURE,
            "revertBlocks((uint32,uint32,uint64,uint64,bytes32,bytes32,bytes32,bytes32)[],(uint32,uint32,uint64,uint64,bytes32,bytes32,bytes32,bytes32),uint64,uint32,bytes32,bytes[])"
        );
        assert_eq!(
            Primary::BlocksReverted::SIGNATURE,
            "BlocksReverted(uint32,uint64)"
        );
        assert_eq!(
            Primary::executeBlocksCall::SIGNATURE,
            "executeBlocks(((uint32,uint32,uint64,uint64,bytes32,bytes32,bytes32,bytes32),bytes)[])"
        );
    }

    #[test]
    fn dev_token_is_an_erc20() {
        assert_eq!(
            DevToken::transferFromCall::SIGNATURE,
            "transferFrom(address,address,uint256)"
        );
        assert_eq!(
            DevToken::Transfer::SIGNATURE,
            "Transfer(address,address,uint256)"
        );
        assert_eq!(
            DevToken::InsufficientBalance::SIGNATURE,
            "InsufficientBalance(address,uint256,uint256)"
        );
        let args = DevToken::constructorCall {
            name_: "Dev USD".into(),
            symbol_: "DUSD".into(),
            decimals_: 6,
            holders: vec![Address::repeat_byte(1)],
            amountEach: alloy_primitives::U256::from(1_000_000u64),
        }
        .abi_encode();
        // Five head words, then the two strings (length and one word each) and the array.
        assert_eq!(args.len(), 32 * (5 + 2 + 2 + 2));
    }
}
