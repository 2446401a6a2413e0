//! The committee attestation of DESIGN §6, as the contracts verify it.
//!
//! A validator signs, EIP-191 style, the digest
//! `keccak256(abi.encode(domain, uint16 src, uint16 dst, uint8 kind, uint32 blockNumber, bytes32 hash))`;
//! the receiving contract recovers each signer with `ecrecover` and wants `threshold`
//! distinct validators, in ascending address order.

use alloy_primitives::{keccak256, Address, B256, U256};
use k256::ecdsa::SigningKey;

/// What an attested message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AttestationKind {
    /// A secondary's sync hash after a block, for the primary.
    SyncHash = 1,
    /// The primary's confirmation (and execution) of blocks up to a height, for a
    /// secondary; the hash is that block's state root.
    Confirmation = 2,
}

/// The digest validators sign (before the EIP-191 prefix).
pub fn attestation_digest(
    domain: B256,
    src_chain: u16,
    dst_chain: u16,
    kind: AttestationKind,
    block_number: u32,
    hash: B256,
) -> B256 {
    // abi.encode of static values: each one a big-endian 32-byte word.
    let word = |x: u64| B256::from(U256::from(x));
    keccak256(
        [
            domain,
            word(src_chain.into()),
            word(dst_chain.into()),
            word(kind as u64),
            word(block_number.into()),
            hash,
        ]
        .concat(),
    )
}

/// EIP-191 of a 32-byte digest: what `ecrecover` is called on.
pub fn personal_digest(digest: B256) -> B256 {
    keccak256(
        [
            b"\x19Ethereum Signed Message:\n32".as_slice(),
            digest.as_slice(),
        ]
        .concat(),
    )
}

/// A validator's 65-byte signature `r ‖ s ‖ v` (low s, v 27/28) of an attestation digest.
pub fn sign_attestation(key: &SigningKey, digest: B256) -> [u8; 65] {
    let (signature, recovery) = key
        .sign_prehash_recoverable(personal_digest(digest).as_slice())
        .expect("a 32-byte prehash is always signable");
    // k256 always signs with a low s, which is what the contracts accept.
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&signature.to_bytes());
    out[64] = 27 + recovery.to_byte();
    out
}

/// The address of a validator key.
pub fn validator_address(key: &SigningKey) -> Address {
    Address::from_public_key(key.verifying_key())
}

/// Signatures of `digest` by `keys`, ordered as the contracts require (ascending signer).
pub fn sign_by_committee(keys: &[SigningKey], digest: B256) -> Vec<[u8; 65]> {
    let mut signed: Vec<(Address, [u8; 65])> = keys
        .iter()
        .map(|k| (validator_address(k), sign_attestation(k, digest)))
        .collect();
    signed.sort_by_key(|(address, _)| *address);
    signed.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32].into()).unwrap()
    }

    #[test]
    fn signatures_recover_to_the_validator() {
        let digest = attestation_digest(
            B256::ZERO,
            1,
            0,
            AttestationKind::SyncHash,
            3,
            B256::repeat_byte(1),
        );
        for seed in 1..20u8 {
            let k = key(seed);
            let raw = sign_attestation(&k, digest);
            let signature = alloy_primitives::Signature::from_raw(&raw).unwrap();
            assert!(signature.normalize_s().is_none(), "low s");
            assert_eq!(
                signature
                    .recover_address_from_prehash(&personal_digest(digest))
                    .unwrap(),
                validator_address(&k)
            );
        }
    }

    #[test]
    fn committee_signatures_come_in_ascending_signer_order() {
        let keys: Vec<SigningKey> = (1..6).map(key).collect();
        let digest = B256::repeat_byte(7);
        let signers: Vec<Address> = sign_by_committee(&keys, digest)
            .iter()
            .map(|raw| {
                alloy_primitives::Signature::from_raw(raw)
                    .unwrap()
                    .recover_address_from_prehash(&personal_digest(digest))
                    .unwrap()
            })
            .collect();
        assert!(signers.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_field_changes_the_digest() {
        let base = attestation_digest(B256::ZERO, 1, 0, AttestationKind::SyncHash, 3, B256::ZERO);
        assert_ne!(
            base,
            attestation_digest(
                B256::repeat_byte(1),
                1,
                0,
                AttestationKind::SyncHash,
                3,
                B256::ZERO
            )
        );
        assert_ne!(
            base,
            attestation_digest(B256::ZERO, 2, 0, AttestationKind::SyncHash, 3, B256::ZERO)
        );
        assert_ne!(
            base,
            attestation_digest(B256::ZERO, 1, 2, AttestationKind::SyncHash, 3, B256::ZERO)
        );
        assert_ne!(
            base,
            attestation_digest(
                B256::ZERO,
                1,
                0,
                AttestationKind::Confirmation,
                3,
                B256::ZERO
            )
        );
        assert_ne!(
            base,
            attestation_digest(B256::ZERO, 1, 0, AttestationKind::SyncHash, 4, B256::ZERO)
        );
        assert_ne!(
            base,
            attestation_digest(
                B256::ZERO,
                1,
                0,
                AttestationKind::SyncHash,
                3,
                B256::repeat_byte(1)
            )
        );
    }
}
