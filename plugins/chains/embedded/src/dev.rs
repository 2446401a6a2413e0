//! Dev accounts: keys derived from a BIP-39 mnemonic on the BIP-32 path
//! `m/44'/60'/0'/0/i`, the path Hardhat and anvil use, so the default mnemonic gives their
//! well-known addresses. And a signing helper for tests and tools.

use alloy_consensus::{SignableTransaction, Signed};
use alloy_primitives::{Address, Signature, B256, U256};
use hmac::{Hmac, Mac};
use k256::ecdsa::SigningKey;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::PrimeField;
use k256::{NonZeroScalar, Scalar, SecretKey};
use sha2::Sha512;

use crate::error::EmbeddedError;

/// BIP-39's PBKDF2 iteration count.
const PBKDF2_ROUNDS: u32 = 2048;
/// The first hardened BIP-32 index.
const HARDENED: u32 = 1 << 31;

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
    if !mnemonic.is_ascii() {
        return Err(EmbeddedError::DevKey("the mnemonic must be ASCII".into()));
    }
    let words: Vec<&str> = mnemonic.split_whitespace().collect();
    if words.is_empty() {
        return Err(EmbeddedError::DevKey("the mnemonic is empty".into()));
    }
    let seed = bip39_seed(&words.join(" "), "");
    (0..count)
        .map(|i| {
            let key = derive(&seed, &[44 | HARDENED, 60 | HARDENED, HARDENED, 0, i])?;
            DevAccount::from_secret(B256::from_slice(&key.to_bytes()))
        })
        .collect()
}

fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> [u8; 64] {
    let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// BIP-39: PBKDF2-HMAC-SHA512 of the sentence, salt "mnemonic" + passphrase, 2048 rounds,
/// 64 bytes (one block of SHA-512, so one PBKDF2 block).
fn bip39_seed(sentence: &str, passphrase: &str) -> [u8; 64] {
    let salt = format!("mnemonic{passphrase}");
    let mut u = hmac_sha512(sentence.as_bytes(), &[salt.as_bytes(), &1u32.to_be_bytes()]);
    let mut out = u;
    for _ in 1..PBKDF2_ROUNDS {
        u = hmac_sha512(sentence.as_bytes(), &[&u]);
        out.iter_mut().zip(u.iter()).for_each(|(o, x)| *o ^= x);
    }
    out
}

/// BIP-32 private derivation of `path` from `seed`.
fn derive(seed: &[u8], path: &[u32]) -> Result<SecretKey, EmbeddedError> {
    let invalid = || EmbeddedError::DevKey("derived an invalid key (try the next index)".into());
    let master = hmac_sha512(b"Bitcoin seed", &[seed]);
    let mut key = SecretKey::from_slice(&master[..32]).map_err(|_| invalid())?;
    let mut chain_code: [u8; 32] = master[32..].try_into().expect("64 = 32 + 32");
    for &index in path {
        let i = if index >= HARDENED {
            hmac_sha512(&chain_code, &[&[0], &key.to_bytes(), &index.to_be_bytes()])
        } else {
            let point = key.public_key().to_encoded_point(true);
            hmac_sha512(&chain_code, &[point.as_bytes(), &index.to_be_bytes()])
        };
        let tweak: Option<Scalar> =
            Scalar::from_repr(*k256::FieldBytes::from_slice(&i[..32])).into();
        let child = tweak.ok_or_else(invalid)? + key.to_nonzero_scalar().as_ref();
        let child: Option<NonZeroScalar> = NonZeroScalar::new(child).into();
        key = SecretKey::from(child.ok_or_else(invalid)?);
        chain_code.copy_from_slice(&i[32..]);
    }
    Ok(key)
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
