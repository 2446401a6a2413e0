//! Development keys from a BIP-39 mnemonic on the BIP-32 path `m/44'/60'/0'/0/i`, the path
//! Hardhat and anvil use, so the public test mnemonic gives their well-known accounts. One
//! derivation for the embedded chain's funded dev accounts and the wallet's `--dev N`.

use alloy_primitives::B256;
use hmac::{Hmac, Mac};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::PrimeField;
use k256::{NonZeroScalar, Scalar, SecretKey};
use sha2::Sha512;

/// BIP-39's PBKDF2 iteration count.
const PBKDF2_ROUNDS: u32 = 2048;
/// The first hardened BIP-32 index.
const HARDENED: u32 = 1 << 31;

/// Why no key was derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MnemonicError {
    /// Not ASCII: no Unicode normalisation is done (the English word list is ASCII).
    #[error("the mnemonic must be ASCII")]
    NotAscii,
    /// No words.
    #[error("the mnemonic is empty")]
    Empty,
    /// An index at or above 2^31 (those are the hardened ones).
    #[error("account index {0} is out of range (below 2^31)")]
    IndexOutOfRange(u32),
    /// BIP-32 derived an invalid key (probability about 2^-127).
    #[error("the mnemonic derives an invalid key at account {0} (use the next one)")]
    InvalidKey(u32),
}

/// The secret keys of accounts `0..count` of `mnemonic` (no passphrase).
///
/// The words are taken as given, joined by single spaces; the checksum is not checked, as
/// BIP-39 seeds do not depend on it.
pub fn dev_secrets(mnemonic: &str, count: u32) -> Result<Vec<B256>, MnemonicError> {
    if !mnemonic.is_ascii() {
        return Err(MnemonicError::NotAscii);
    }
    let words: Vec<&str> = mnemonic.split_whitespace().collect();
    if words.is_empty() {
        return Err(MnemonicError::Empty);
    }
    if count > HARDENED {
        return Err(MnemonicError::IndexOutOfRange(count - 1));
    }
    let seed = bip39_seed(&words.join(" "), "");
    (0..count)
        .map(|i| {
            derive(&seed, &[44 | HARDENED, 60 | HARDENED, HARDENED, 0, i])
                .map(|key| B256::from_slice(&key.to_bytes()))
                .ok_or(MnemonicError::InvalidKey(i))
        })
        .collect()
}

/// The secret key of account `index` of `mnemonic` (no passphrase).
pub fn dev_secret(mnemonic: &str, index: u32) -> Result<B256, MnemonicError> {
    if index >= HARDENED {
        return Err(MnemonicError::IndexOutOfRange(index));
    }
    Ok(dev_secrets(mnemonic, index + 1)?[index as usize])
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

/// BIP-32 private derivation of `path` from `seed`; `None` for an invalid key.
fn derive(seed: &[u8], path: &[u32]) -> Option<SecretKey> {
    let master = hmac_sha512(b"Bitcoin seed", &[seed]);
    let mut key = SecretKey::from_slice(&master[..32]).ok()?;
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
        let child = tweak? + key.to_nonzero_scalar().as_ref();
        let child: Option<NonZeroScalar> = NonZeroScalar::new(child).into();
        key = SecretKey::from(child?);
        chain_code.copy_from_slice(&i[32..]);
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecdsa::eth_address;

    const TEST_MNEMONIC: &str = "test test test test test test test test test test test junk";

    #[test]
    fn the_test_mnemonic_gives_the_well_known_accounts() {
        let secrets = dev_secrets(TEST_MNEMONIC, 10).unwrap();
        let address = |s: &B256| {
            eth_address(&k256::ecdsa::SigningKey::from_slice(s.as_slice()).unwrap()).to_string()
        };
        assert_eq!(
            address(&secrets[0]),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        assert_eq!(
            address(&secrets[1]),
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
        );
        assert_eq!(
            address(&secrets[9]),
            "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"
        );
        assert_eq!(dev_secret(TEST_MNEMONIC, 9).unwrap(), secrets[9]);
    }

    #[test]
    fn bad_mnemonics_and_indexes_are_refused() {
        assert_eq!(dev_secrets("", 1), Err(MnemonicError::Empty));
        assert_eq!(dev_secrets("tést", 1), Err(MnemonicError::NotAscii));
        assert_eq!(
            dev_secret(TEST_MNEMONIC, 1 << 31),
            Err(MnemonicError::IndexOutOfRange(1 << 31))
        );
        // Words are joined by single spaces whatever separates them.
        assert_eq!(
            dev_secrets(
                "test  test test test test test test test test test test\tjunk",
                1
            ),
            dev_secrets(TEST_MNEMONIC, 1)
        );
    }
}
