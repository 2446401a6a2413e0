//! The Ethereum-key authorisation of ChangePubKey.
//!
//! An account's owner registers (or rotates) its L2 key by signing, with the Ethereum key
//! of the account's address, the EIP-191 personal message whose 32-byte body is
//! `keccak256("manyfold:change-pubkey" ‖ pubkeyHash ‖ uint32 nonce ‖ uint32 accountId)`.
//! The contract of the chain named in the op recovers the signer with `ecrecover` from
//! the same bytes; the native state checks it too, so the node never builds a block that
//! a contract would reject. Signatures with a high `s` are refused on both sides.

use alloy_primitives::{keccak256, Address, Signature as RawSignature, B256};
use k256::ecdsa::SigningKey;

use crate::chains::ChainDomain;
use crate::error::{check_len, invalid, Result};
use crate::{AccountId, Nonce, PubKeyHash, U256};

/// Domain string at the start of the signed body.
pub const CHANGE_PUBKEY_DOMAIN: &[u8] = b"manyfold:change-pubkey";

/// A 65-byte Ethereum signature `r ‖ s ‖ v` (v is 27 or 28).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EthSignature(pub [u8; 65]);

impl EthSignature {
    /// Parses 65 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_len("ethereum signature", bytes, 65)?;
        let mut out = [0u8; 65];
        out.copy_from_slice(bytes);
        Ok(Self(out))
    }
}

/// The 32-byte body of the ChangePubKey message for the contract of `domain`.
pub fn change_pubkey_body(
    domain: &ChainDomain,
    pubkey_hash: PubKeyHash,
    nonce: Nonce,
    account: AccountId,
) -> B256 {
    keccak256(
        [
            CHANGE_PUBKEY_DOMAIN,
            &U256::from(domain.evm_chain_id).to_be_bytes::<32>(),
            domain.settlement.as_slice(),
            &pubkey_hash.to_bytes(),
            &nonce.0.to_be_bytes(),
            &account.get().to_be_bytes(),
        ]
        .concat(),
    )
}

/// The hash `ecrecover` is called on: EIP-191 of the body.
pub fn change_pubkey_digest(
    domain: &ChainDomain,
    pubkey_hash: PubKeyHash,
    nonce: Nonce,
    account: AccountId,
) -> B256 {
    let body = change_pubkey_body(domain, pubkey_hash, nonce, account);
    keccak256(
        [
            b"\x19Ethereum Signed Message:\n32".as_slice(),
            body.as_slice(),
        ]
        .concat(),
    )
}

/// The address that signed the ChangePubKey message, as the contract's `ecrecover` sees it.
pub fn recover_change_pubkey_signer(
    domain: &ChainDomain,
    signature: &EthSignature,
    pubkey_hash: PubKeyHash,
    nonce: Nonce,
    account: AccountId,
) -> Result<Address> {
    let v = signature.0[64];
    if v != 27 && v != 28 {
        return Err(invalid(
            "ethereum signature",
            format!("v is {v}, not 27 or 28"),
        ));
    }
    let raw = RawSignature::from_raw(&signature.0)
        .map_err(|e| invalid("ethereum signature", e.to_string()))?;
    if raw.normalize_s().is_some() {
        return Err(invalid(
            "ethereum signature",
            "s is in the upper half of the order",
        ));
    }
    raw.recover_address_from_prehash(&change_pubkey_digest(domain, pubkey_hash, nonce, account))
        .map_err(|e| invalid("ethereum signature", e.to_string()))
}

/// Signs the ChangePubKey message with an Ethereum key (wallets, tests, devnet accounts).
pub fn sign_change_pubkey(
    domain: &ChainDomain,
    key: &SigningKey,
    pubkey_hash: PubKeyHash,
    nonce: Nonce,
    account: AccountId,
) -> EthSignature {
    let digest = change_pubkey_digest(domain, pubkey_hash, nonce, account);
    let (sig, recid) = key
        .sign_prehash_recoverable(digest.as_slice())
        .expect("signing a 32-byte prehash cannot fail");
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&sig.to_bytes());
    out[64] = 27 + recid.is_y_odd() as u8;
    EthSignature(out)
}

/// The Ethereum address of a secp256k1 key.
pub fn eth_address(key: &SigningKey) -> Address {
    Address::from_public_key(key.verifying_key())
}

/// A secp256k1 key derived from a seed (tests, devnet accounts).
pub fn eth_key_from_seed(seed: &[u8]) -> SigningKey {
    let mut counter = 0u32;
    loop {
        let bytes = keccak256([seed, &counter.to_be_bytes()].concat());
        if let Ok(key) = SigningKey::from_slice(bytes.as_slice()) {
            return key;
        }
        counter += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chains::ChainSet;
    use crate::field::fr_from_u128;
    use crate::ChainId;

    #[test]
    fn signer_is_recovered_and_tampering_changes_it() {
        let key = eth_key_from_seed(b"alice");
        let pkh = PubKeyHash(fr_from_u128(42));
        let account = AccountId::new(3).unwrap();
        let chains = ChainSet::local(2);
        let here = chains.domain(ChainId::new(0).unwrap()).unwrap();
        let sig = sign_change_pubkey(here, &key, pkh, Nonce(0), account);
        assert_eq!(
            recover_change_pubkey_signer(here, &sig, pkh, Nonce(0), account).unwrap(),
            eth_address(&key)
        );
        let other = recover_change_pubkey_signer(here, &sig, pkh, Nonce(1), account);
        assert_ne!(other.ok(), Some(eth_address(&key)));
        let mut bad_v = sig;
        bad_v.0[64] = 0;
        assert!(recover_change_pubkey_signer(here, &bad_v, pkh, Nonce(0), account).is_err());
    }

    /// Issue 9 item 12: a ChangePubKey authorisation made for one deployment recovers to
    /// another signer on a different EVM chain or a different contract.
    #[test]
    fn authorisation_does_not_replay_across_deployments() {
        let key = eth_key_from_seed(b"alice");
        let pkh = PubKeyHash(fr_from_u128(42));
        let account = AccountId::new(3).unwrap();
        let here = ChainDomain {
            evm_chain_id: 1,
            settlement: Address::repeat_byte(0xaa),
        };
        let sig = sign_change_pubkey(&here, &key, pkh, Nonce(0), account);
        for elsewhere in [
            ChainDomain {
                evm_chain_id: 2,
                ..here
            },
            ChainDomain {
                settlement: Address::repeat_byte(0xbb),
                ..here
            },
        ] {
            let signer = recover_change_pubkey_signer(&elsewhere, &sig, pkh, Nonce(0), account);
            assert_ne!(signer.ok(), Some(eth_address(&key)));
        }
    }
}
