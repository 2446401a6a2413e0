//! Signing EIP-1559 transactions.

use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_primitives::{keccak256, Address, Bytes, Signature, B256};
use k256::ecdsa::SigningKey;

/// A signed transaction as the chain takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// The EIP-2718 envelope: `0x02 ‖ rlp([chain_id, nonce, …, y_parity, r, s])`, what
    /// `eth_sendRawTransaction` takes.
    pub raw: Bytes,
    /// The transaction hash: `keccak256(raw)`.
    pub hash: B256,
}

/// Why a transaction could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("signing failed: {0}")]
pub struct SignerError(pub String);

/// Signs the sender's transactions. The durable sender persists every request before it
/// calls [`TxSigner::sign`] and stores what it returns before broadcasting it.
///
/// Synchronous: a local key signs in microseconds. A remote signer (KMS, HSM) would wrap
/// its round trip in the caller's runtime.
pub trait TxSigner: Send + Sync + std::fmt::Debug {
    /// The account it signs for.
    fn address(&self) -> Address;

    /// Signs `tx` (whose `chain_id` is set) and encodes it.
    fn sign(&self, tx: &TxEip1559) -> Result<SignedTx, SignerError>;
}

/// A [`TxSigner`] holding a secp256k1 private key in memory. Its `Debug` shows the
/// address only; the key is zeroed when the signer is dropped (k256 does so).
pub struct LocalSigner {
    key: SigningKey,
    address: Address,
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSigner")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl LocalSigner {
    /// A signer from a 32-byte private key; refuses zero and keys not below the curve
    /// order.
    pub fn from_bytes(key: &[u8; 32]) -> Result<Self, SignerError> {
        let key = SigningKey::from_slice(key)
            .map_err(|_| SignerError("not a valid secp256k1 private key".into()))?;
        let address = Address::from_private_key(&key);
        Ok(Self { key, address })
    }

    /// A signer from a hex private key (`0x` optional). The error never repeats the input.
    pub fn from_hex(key: &str) -> Result<Self, SignerError> {
        let bytes: [u8; 32] = alloy_primitives::hex::decode(key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SignerError("a private key is 32 bytes of hex".into()))?;
        Self::from_bytes(&bytes)
    }
}

impl TxSigner for LocalSigner {
    fn address(&self) -> Address {
        self.address
    }

    fn sign(&self, tx: &TxEip1559) -> Result<SignedTx, SignerError> {
        let digest = tx.signature_hash();
        // k256 returns a low-s signature and the matching recovery id (EIP-2).
        let (signature, recovery) = self
            .key
            .sign_prehash_recoverable(digest.as_slice())
            .map_err(|e| SignerError(e.to_string()))?;
        let signed = tx
            .clone()
            .into_signed(Signature::from((signature, recovery)));
        let mut raw = Vec::with_capacity(signed.eip2718_encoded_length());
        signed.eip2718_encode(&mut raw);
        let hash = keccak256(&raw);
        debug_assert_eq!(hash, *signed.hash());
        Ok(SignedTx {
            raw: raw.into(),
            hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::Signed;
    use alloy_primitives::{address, TxKind, U256};
    use proptest::prelude::*;

    /// RLP written out by hand, independently of alloy-rlp: a byte string, or a list of
    /// already-encoded items.
    fn rlp_string(bytes: &[u8]) -> Vec<u8> {
        match bytes {
            [b] if *b < 0x80 => vec![*b],
            _ => [rlp_length(0x80, bytes.len()), bytes.to_vec()].concat(),
        }
    }

    fn rlp_list(items: &[Vec<u8>]) -> Vec<u8> {
        let payload = items.concat();
        [rlp_length(0xc0, payload.len()), payload].concat()
    }

    fn rlp_length(offset: u8, len: usize) -> Vec<u8> {
        if len < 56 {
            return vec![offset + len as u8];
        }
        let be = len.to_be_bytes();
        let digits: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
        [vec![offset + 55 + digits.len() as u8], digits].concat()
    }

    /// An unsigned integer as RLP wants it: big-endian, no leading zeros (zero is empty).
    fn rlp_uint(be: &[u8]) -> Vec<u8> {
        let trimmed: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
        rlp_string(&trimmed)
    }

    fn transfer() -> TxEip1559 {
        TxEip1559 {
            chain_id: 1,
            nonce: 0,
            gas_limit: 21_000,
            max_fee_per_gas: 2,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(Address::repeat_byte(0x11)),
            value: U256::ZERO,
            access_list: Default::default(),
            input: Bytes::new(),
        }
    }

    #[test]
    fn known_keys_give_their_known_addresses() {
        // The private key 1, and the key of the EIP-155 example (0x46 repeated).
        let one = LocalSigner::from_bytes(&B256::with_last_byte(1).0).unwrap();
        assert_eq!(
            one.address(),
            address!("7E5F4552091A69125d5DfCb7b8C2659029395Bdf")
        );
        let eip155 = LocalSigner::from_hex(&format!("0x{}", "46".repeat(32))).unwrap();
        assert_eq!(
            eip155.address(),
            address!("9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F")
        );
        assert!(LocalSigner::from_bytes(&[0; 32]).is_err(), "zero is no key");
        assert!(
            LocalSigner::from_bytes(&[0xff; 32]).is_err(),
            "above the order"
        );
        let err = LocalSigner::from_hex("0x46").unwrap_err().to_string();
        assert!(!err.contains("46"), "{err}");
        assert!(
            !format!("{eip155:?}").contains("4646"),
            "Debug shows no key"
        );
    }

    #[test]
    fn the_signing_hash_is_keccak_of_type_and_hand_written_rlp() {
        let mut expected = vec![0x02, 0xdf, 0x01, 0x80, 0x01, 0x02, 0x82, 0x52, 0x08, 0x94];
        expected.extend([0x11; 20]);
        expected.extend([0x80, 0x80, 0xc0]);
        assert_eq!(transfer().signature_hash(), keccak256(&expected));
    }

    #[test]
    fn the_envelope_matches_hand_written_rlp_and_recovers_the_signer() {
        let signer = LocalSigner::from_bytes(&[7; 32]).unwrap();
        let tx = TxEip1559 {
            chain_id: 31_337,
            nonce: 300,
            gas_limit: 1_000_000,
            max_fee_per_gas: 30_000_000_000,
            max_priority_fee_per_gas: 1_500_000_000,
            to: TxKind::Call(Address::repeat_byte(0xab)),
            value: U256::from(10u64).pow(U256::from(18)),
            access_list: Default::default(),
            input: Bytes::from(vec![0x5a; 100]),
        };
        let signed = signer.sign(&tx).unwrap();
        assert_eq!(signed.hash, keccak256(&signed.raw));

        let decoded = Signed::<TxEip1559>::eip2718_decode(&mut signed.raw.as_ref()).unwrap();
        assert_eq!(decoded.tx(), &tx);
        assert_eq!(*decoded.hash(), signed.hash);
        assert_eq!(decoded.recover_signer().unwrap(), signer.address());

        let sig = decoded.signature();
        let s = sig.s();
        let half_order = U256::from_be_slice(&alloy_primitives::hex!(
            "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0"
        ));
        assert!(s <= half_order, "low s (EIP-2)");
        let fields = vec![
            rlp_uint(&31_337u64.to_be_bytes()),
            rlp_uint(&300u64.to_be_bytes()),
            rlp_uint(&1_500_000_000u128.to_be_bytes()),
            rlp_uint(&30_000_000_000u128.to_be_bytes()),
            rlp_uint(&1_000_000u64.to_be_bytes()),
            rlp_string(&[0xab; 20]),
            rlp_uint(&tx.value.to_be_bytes::<32>()),
            rlp_string(&[0x5a; 100]),
            rlp_list(&[]),
            rlp_uint(&[u8::from(sig.v())]),
            rlp_uint(&sig.r().to_be_bytes::<32>()),
            rlp_uint(&s.to_be_bytes::<32>()),
        ];
        let expected = [vec![0x02], rlp_list(&fields)].concat();
        assert_eq!(signed.raw.as_ref(), expected.as_slice());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn any_transaction_round_trips_through_alloys_decoder(
            key in 1u8..=254,
            nonce: u64,
            gas_limit: u64,
            fees in (any::<u128>(), any::<u128>()),
            value: [u8; 32],
            input in prop::collection::vec(any::<u8>(), 0..200),
            chain_id: u64,
        ) {
            let signer = LocalSigner::from_bytes(&[key; 32]).unwrap();
            let tx = TxEip1559 {
                chain_id,
                nonce,
                gas_limit,
                max_fee_per_gas: fees.0.max(fees.1),
                max_priority_fee_per_gas: fees.0.min(fees.1),
                to: TxKind::Call(Address::repeat_byte(key)),
                value: U256::from_be_bytes(value),
                access_list: Default::default(),
                input: input.into(),
            };
            let signed = signer.sign(&tx).unwrap();
            let decoded = Signed::<TxEip1559>::eip2718_decode(&mut signed.raw.as_ref()).unwrap();
            prop_assert_eq!(decoded.tx(), &tx);
            prop_assert_eq!(*decoded.hash(), signed.hash);
            prop_assert_eq!(decoded.recover_signer().unwrap(), signer.address());
        }
    }
}
