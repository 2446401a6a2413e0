//! The committee attestation of DESIGN §6, as the contracts verify it.
//!
//! A validator signs, EIP-191 style, the digest
//! `keccak256(abi.encode(bytes32 domain, uint256 evmChainId, address receiver, uint16 src,
//! uint16 dst, uint8 kind, uint32 blockNumber, bytes32 hash))`, where `evmChainId` and
//! `receiver` are the receiving contract's `block.chainid` and `address(this)` (so an
//! attestation never replays on another chain or deployment); the receiving contract
//! recovers each signer with `ecrecover` and wants `threshold` distinct validators, in
//! ascending address order.
//!
//! What `hash` is depends on the kind (see [`sync_hash_message`], [`confirmation_message`],
//! [`revert_message`]); an attester reads every input from the chains themselves.

use alloy_primitives::{keccak256, Address, B256, U256};
use k256::ecdsa::SigningKey;

/// What an attested message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AttestationKind {
    /// A secondary's sync hash after a block, for the primary.
    SyncHash = 1,
    /// The primary's confirmation (and execution) of blocks up to a height, for a
    /// secondary; the hash is [`confirmation_message`].
    Confirmation = 2,
    /// The primary's revert, for a secondary; the hash is [`revert_message`].
    Revert = 3,
}

/// Where an attestation is delivered: the receiving contract's EVM chain id and address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Receiver {
    /// `block.chainid` of the receiving contract's chain.
    pub evm_chain_id: u64,
    /// The receiving settlement contract.
    pub contract: Address,
}

/// abi.encode of a static value: one big-endian 32-byte word.
fn word(x: u64) -> B256 {
    B256::from(U256::from(x))
}

/// The digest validators sign (before the EIP-191 prefix).
pub fn attestation_digest(
    domain: B256,
    receiver: Receiver,
    src_chain: u16,
    dst_chain: u16,
    kind: AttestationKind,
    block_number: u32,
    hash: B256,
) -> B256 {
    keccak256(
        [
            domain,
            word(receiver.evm_chain_id),
            receiver.contract.into_word(),
            word(src_chain.into()),
            word(dst_chain.into()),
            word(kind as u64),
            word(block_number.into()),
            hash,
        ]
        .concat(),
    )
}

/// The hash of a [`AttestationKind::SyncHash`] message: `keccak256(abi.encode(syncHash,
/// uint64 revertsApplied))`, the secondary's sync hash after the block and its count of
/// the primary's reverts applied (`Secondary.revertsApplied`), both read from the
/// secondary; the primary counts it only while its `totalReverts` is that count.
pub fn sync_hash_message(sync_hash: B256, reverts_applied: u64) -> B256 {
    keccak256([sync_hash, word(reverts_applied)].concat())
}

/// The hash of a [`AttestationKind::Confirmation`] message for block N to chain c:
/// `keccak256(abi.encode(stateRoot, syncHash))`, the state root of block N and the
/// primary's sync hash for c after N (`Primary.syncHashAt(c, N)`), read from the primary
/// once it has executed N.
pub fn confirmation_message(state_root: B256, sync_hash: B256) -> B256 {
    keccak256([state_root, sync_hash].concat())
}

/// The hash of a [`AttestationKind::Revert`] message (block number: the primary's height
/// after the revert): `keccak256(abi.encode(uint64 revertId, syncHash))`, the revert's id
/// (`BlocksReverted`'s second field) and the primary's sync hash for the destination
/// chain at that height (`Primary.syncHashAt`).
pub fn revert_message(revert_id: u64, sync_hash: B256) -> B256 {
    keccak256([word(revert_id), sync_hash].concat())
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

    const AT: Receiver = Receiver {
        evm_chain_id: 31_337,
        contract: Address::ZERO,
    };

    #[test]
    fn signatures_recover_to_the_validator() {
        let digest = attestation_digest(
            B256::ZERO,
            AT,
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
        let d = |domain: u8, receiver: Receiver, src, dst, kind, n, hash: u8| {
            attestation_digest(
                B256::repeat_byte(domain),
                receiver,
                src,
                dst,
                kind,
                n,
                B256::repeat_byte(hash),
            )
        };
        let base = d(0, AT, 1, 0, AttestationKind::SyncHash, 3, 0);
        let other_chain = Receiver {
            evm_chain_id: 1,
            ..AT
        };
        let other_contract = Receiver {
            contract: Address::with_last_byte(1),
            ..AT
        };
        for other in [
            d(1, AT, 1, 0, AttestationKind::SyncHash, 3, 0),
            d(0, other_chain, 1, 0, AttestationKind::SyncHash, 3, 0),
            d(0, other_contract, 1, 0, AttestationKind::SyncHash, 3, 0),
            d(0, AT, 2, 0, AttestationKind::SyncHash, 3, 0),
            d(0, AT, 1, 2, AttestationKind::SyncHash, 3, 0),
            d(0, AT, 1, 0, AttestationKind::Confirmation, 3, 0),
            d(0, AT, 1, 0, AttestationKind::Revert, 3, 0),
            d(0, AT, 1, 0, AttestationKind::SyncHash, 4, 0),
            d(0, AT, 1, 0, AttestationKind::SyncHash, 3, 1),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn the_packing_is_abi_encode_of_eight_words() {
        let receiver = Receiver {
            evm_chain_id: 0x0102,
            contract: Address::repeat_byte(0xcc),
        };
        let digest = attestation_digest(
            B256::repeat_byte(0xdd),
            receiver,
            1,
            2,
            AttestationKind::Revert,
            9,
            B256::repeat_byte(0xee),
        );
        let mut packed = vec![0xddu8; 32];
        packed.extend_from_slice(&word(0x0102).0);
        packed.extend_from_slice(&[0u8; 12]);
        packed.extend_from_slice(&[0xcc; 20]);
        for x in [1u64, 2, 3, 9] {
            packed.extend_from_slice(&word(x).0);
        }
        packed.extend_from_slice(&[0xee; 32]);
        assert_eq!(digest, keccak256(&packed));
        assert_eq!(
            revert_message(5, B256::repeat_byte(1)),
            keccak256([word(5), B256::repeat_byte(1)].concat())
        );
        assert_ne!(
            sync_hash_message(B256::ZERO, 0),
            sync_hash_message(B256::ZERO, 1),
            "the revert count is bound"
        );
        assert_ne!(
            confirmation_message(B256::ZERO, B256::ZERO),
            confirmation_message(B256::ZERO, B256::repeat_byte(1)),
            "the sync hash is bound"
        );
    }
}
