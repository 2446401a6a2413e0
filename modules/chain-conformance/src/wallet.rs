//! Signing the kit's own transactions.

use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_primitives::{keccak256, Address, Bytes, Signature, B256};
use k256::ecdsa::SigningKey;

/// A key the kit signs with.
pub(crate) struct Wallet {
    key: SigningKey,
    pub(crate) address: Address,
}

impl Wallet {
    /// A wallet for a 32-byte secp256k1 private key.
    pub(crate) fn new(key: &[u8; 32]) -> Result<Self, String> {
        let key = SigningKey::from_slice(key)
            .map_err(|_| "the funded key is not a valid secp256k1 private key".to_owned())?;
        let address = Address::from_private_key(&key);
        Ok(Self { key, address })
    }

    /// A key derived from `seed`, which nobody funds.
    pub(crate) fn derived(seed: &[u8]) -> Self {
        let mut digest = keccak256(seed);
        // A keccak output is a valid scalar but for a chance of about 2^-128; rehash then.
        loop {
            if let Ok(wallet) = Self::new(&digest.0) {
                return wallet;
            }
            digest = keccak256(digest);
        }
    }

    /// `tx`, signed and EIP-2718 encoded (what `eth_sendRawTransaction` takes), and its
    /// hash.
    pub(crate) fn sign(&self, tx: TxEip1559) -> Result<(Bytes, B256), String> {
        let digest = tx.signature_hash();
        let (signature, recovery) = self
            .key
            .sign_prehash_recoverable(digest.as_slice())
            .map_err(|e| format!("signing failed: {e}"))?;
        let signed = tx.into_signed(Signature::from((signature, recovery)));
        let mut raw = Vec::with_capacity(signed.eip2718_encoded_length());
        signed.eip2718_encode(&mut raw);
        let hash = keccak256(&raw);
        Ok((raw.into(), hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::transaction::SignerRecoverable;
    use alloy_consensus::TxEnvelope;
    use alloy_eips::eip2718::Decodable2718;
    use alloy_primitives::{address, TxKind, U256};

    /// Anvil's (and Hardhat's) account 0.
    const DEV_KEY: B256 =
        alloy_primitives::b256!("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");

    #[test]
    fn signs_transactions_that_recover_to_the_key() {
        let wallet = Wallet::new(&DEV_KEY.0).unwrap();
        assert_eq!(
            wallet.address,
            address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        );
        let tx = TxEip1559 {
            chain_id: 31_337,
            nonce: 7,
            gas_limit: 21_000,
            max_fee_per_gas: 3,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(Address::repeat_byte(1)),
            value: U256::from(5),
            access_list: Default::default(),
            input: Bytes::new(),
        };
        let (raw, hash) = wallet.sign(tx.clone()).unwrap();
        assert_eq!(raw[0], 0x02, "an EIP-1559 envelope");
        assert_eq!(hash, keccak256(&raw));
        let decoded = TxEnvelope::decode_2718(&mut raw.as_ref()).unwrap();
        assert_eq!(decoded.recover_signer().unwrap(), wallet.address);
        let TxEnvelope::Eip1559(signed) = decoded else {
            panic!("not EIP-1559")
        };
        assert_eq!(signed.tx(), &tx);
        assert_eq!(*signed.hash(), hash);
    }

    #[test]
    fn derived_keys_differ_by_seed_and_refuse_nothing() {
        let a = Wallet::derived(b"a");
        assert_eq!(a.address, Wallet::derived(b"a").address);
        assert_ne!(a.address, Wallet::derived(b"b").address);
        assert!(Wallet::new(&[0; 32]).is_err(), "zero is not a key");
    }
}
