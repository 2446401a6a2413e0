//! Dev accounts: keys derived from a BIP-39 mnemonic on the BIP-32 path
//! `m/44'/60'/0'/0/i`, the path Hardhat and anvil use, so the default mnemonic gives their
//! well-known addresses. And a signing helper for tests and tools.

use alloy_consensus::{SignableTransaction, Signed};
use alloy_primitives::{Address, Signature, B256, U256};
use k256::ecdsa::SigningKey;

use crate::error::EmbeddedError;

/// A funded development account.
#[derive(Clone, PartialEq, Eq)]
pub struct DevAccount {
    /// Its address.
    pub address: Address,
    /// Its secp256k1 secret key.
    pub secret: B256,
}

impl std::fmt::Debug for DevAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs even for dev accounts: the mnemonic may be a private one.
        f.debug_struct("DevAccount")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl DevAccount {
    /// The account of secret key `secret`.
    pub fn from_secret(secret: B256) -> Result<Self, EmbeddedError> {
        let key = SigningKey::from_slice(secret.as_slice())
            .map_err(|e| EmbeddedError::DevKey(e.to_string()))?;
        Ok(Self {
            address: Address::from_public_key(key.verifying_key()),
            secret,
        })
    }

    /// Signs `tx` with this account's key.
    pub fn sign<T: SignableTransaction<Signature>>(&self, tx: T) -> Signed<T> {
        sign(tx, &self.secret)
    }
}

/// Signs `tx` with `secret`.
///
/// # Panics
/// If `secret` is not a valid secp256k1 secret key (zero, or not below the group order).
pub fn sign<T: SignableTransaction<Signature>>(tx: T, secret: &B256) -> Signed<T> {
    let key = SigningKey::from_slice(secret.as_slice()).expect("a valid secp256k1 secret key");
    let (sig, recid) = key
        .sign_prehash_recoverable(tx.signature_hash().as_slice())
        .expect("signing a 32-byte prehash cannot fail");
    let signature = Signature::new(
        U256::from_be_slice(&sig.r().to_bytes()),
        U256::from_be_slice(&sig.s().to_bytes()),
        recid.is_y_odd(),
    );
    tx.into_signed(signature)
}

/// The first `count` accounts of `mnemonic` (no passphrase), on `m/44'/60'/0'/0/i`.
///
/// The mnemonic's words are taken as given (joined by single spaces); its checksum is not
/// checked, as BIP-39 seeds do not depend on it. Only ASCII mnemonics are accepted, so that
/// no Unicode normalisation is needed (the English word list is ASCII).
pub fn dev_accounts(mnemonic: &str, count: u32) -> Result<Vec<DevAccount>, EmbeddedError> {
    manyfold_types::mnemonic::dev_secrets(mnemonic, count)
        .map_err(|e| EmbeddedError::DevKey(e.to_string()))?
        .into_iter()
        .map(DevAccount::from_secret)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEV_MNEMONIC;
    use alloy_primitives::{address, b256};

    #[test]
    fn the_default_mnemonic_gives_the_well_known_dev_accounts() {
        let accounts = dev_accounts(DEV_MNEMONIC, 3).unwrap();
        assert_eq!(
            accounts[0].address,
            address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        );
        assert_eq!(
            accounts[0].secret,
            b256!("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
        );
        assert_eq!(
            accounts[1].address,
            address!("70997970C51812dc3A010C7d01b50e0d17dc79C8")
        );
        assert_eq!(
            accounts[2].address,
            address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
        );
        assert!(
            !format!("{:?}", accounts[0]).contains("ac0974"),
            "no key in Debug"
        );
    }

    #[test]
    fn other_mnemonics_give_other_keys_and_bad_ones_are_refused() {
        let other = dev_accounts("abandon abandon abandon", 1).unwrap();
        assert_ne!(other[0], dev_accounts(DEV_MNEMONIC, 1).unwrap()[0]);
        assert!(dev_accounts("  ", 1).is_err());
        assert!(dev_accounts("tést", 1).is_err());
        // Extra whitespace does not change the sentence.
        let spaced = DEV_MNEMONIC.replace(' ', "  ");
        assert_eq!(
            dev_accounts(&spaced, 1).unwrap(),
            dev_accounts(DEV_MNEMONIC, 1).unwrap()
        );
    }
}
