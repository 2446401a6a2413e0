//! The user's keys: the Ethereum key it is given, and the L2 key derived from it.
//!
//! # The L2 key
//!
//! The L2 key (a Grumpkin scalar, see `manyfold_types::keys`) is derived, never stored:
//!
//! ```text
//! seed   = "manyfold:l2-key:v1" ‖ ethSecret (32 bytes)
//!          ‖ uint64 primaryEvmChainId ‖ primarySettlement (20 bytes)
//! l2 key = PrivateKey::from_seed(seed)
//!        = (keccak256(seed ‖ "/0") ‖ keccak256(seed ‖ "/1")) as a 512-bit integer mod r
//! ```
//!
//! Why this shape:
//! - **Nothing new to back up.** The same Ethereum key gives the same L2 key on every
//!   machine, so losing the wallet's machine loses nothing: the Ethereum key recovers both
//!   (and the Ethereum key can always register a new L2 key with ChangePubKey anyway).
//! - **Uniform and one-way.** Keccak of a 32-byte secret behaves as a random oracle; two
//!   independent 256-bit outputs reduced mod the Grumpkin order leave a bias below 2^-250.
//!   The L2 key reveals nothing of the Ethereum key, and the L2 key alone cannot register
//!   itself: ChangePubKey needs the Ethereum key's signature (DESIGN §4).
//! - **Domain-separated.** The prefix keeps this hash of the secret apart from any other
//!   protocol's; `v1` leaves room for a different derivation later.
//! - **One key per deployment.** L2 transaction messages (Transfer, Withdraw) bind account
//!   ids, token, amount and nonce, but no deployment. Binding the key to the deployment's
//!   primary (EVM chain id and settlement contract, fixed at genesis) gives the same user
//!   a different L2 key on a testnet and on a production deployment, so a transaction
//!   signed for one can never verify on the other.
//!
//! A derivation from an ECDSA signature over a fixed message (zkSync's way) would work
//! with hardware wallets, which never reveal the secret, but it is only as deterministic
//! as the signer's nonces; with the secret at hand, hashing it is simpler and sure.
//!
//! # Dev accounts
//!
//! `--dev N` takes account `N` of a BIP-39 mnemonic on `m/44'/60'/0'/0/N` (the path
//! Hardhat and anvil use; the embedded chains fund the same accounts), by default of the
//! public test mnemonic, whose keys everyone knows: devnets only.

use std::path::Path;

use alloy_primitives::{Address, B256};
use k256::ecdsa::SigningKey;
use manyfold_types::{ChainDomain, PrivateKey};

use crate::error::{Result, WalletError};

/// The public test mnemonic of Hardhat and anvil, which the devnet's embedded chains fund.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The domain prefix of the L2 key's seed (see the module's documentation).
pub const L2_KEY_DOMAIN: &[u8] = b"manyfold:l2-key:v1";

/// An Ethereum secret key and its address. `Debug` shows the address only.
#[derive(Clone)]
pub struct EthKey {
    key: SigningKey,
    address: Address,
}

impl std::fmt::Debug for EthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EthKey")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl EthKey {
    /// The key of a 32-byte secret; refuses zero and values not below the curve order.
    pub fn from_secret(secret: &B256) -> Result<Self> {
        let key = SigningKey::from_slice(secret.as_slice())
            .map_err(|_| WalletError::Key("not a valid secp256k1 secret key".into()))?;
        let address = Address::from_private_key(&key);
        Ok(Self { key, address })
    }

    /// Parses hex (`0x` optional, surrounding whitespace ignored). `place` names where
    /// the text came from, for the error, which never repeats the text.
    pub fn from_hex(text: &str, place: &str) -> Result<Self> {
        let invalid = || {
            WalletError::Key(format!(
                "{place} does not hold a secp256k1 secret key (32 bytes of hex)"
            ))
        };
        let bytes: [u8; 32] = alloy_primitives::hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(invalid)?;
        Self::from_secret(&B256::from(bytes)).map_err(|_| invalid())
    }

    /// Reads the key from environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self> {
        let text = std::env::var(var)
            .map_err(|_| WalletError::Key(format!("environment variable {var} is not set")))?;
        Self::from_hex(&text, &format!("environment variable {var}"))
    }

    /// Reads the key from a file, which on Unix must not be open to group or others
    /// (the rule the node applies to its own key files).
    pub fn from_file(path: &Path) -> Result<Self> {
        let shown = path.display();
        check_permissions(path)?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| WalletError::Key(format!("cannot read key file {shown}: {e}")))?;
        Self::from_hex(&text, &format!("key file {shown}"))
    }

    /// Dev account `index` of `mnemonic` (see the module's documentation).
    pub fn dev(mnemonic: &str, index: u32) -> Result<Self> {
        Self::from_secret(&dev_secret(mnemonic, index)?)
    }

    /// The account's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The secp256k1 key, for signing.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The 32-byte secret.
    pub(crate) fn secret(&self) -> B256 {
        B256::from_slice(&self.key.to_bytes())
    }

    /// The L2 key this Ethereum key owns on the deployment whose primary is `primary`.
    pub fn l2_key(&self, primary: &ChainDomain) -> PrivateKey {
        derive_l2_key(&self.secret(), primary)
    }
}

/// The L2 key of Ethereum secret `secret` on the deployment whose primary chain is
/// `primary` (see the module's documentation for the derivation and why).
pub fn derive_l2_key(secret: &B256, primary: &ChainDomain) -> PrivateKey {
    let seed = [
        L2_KEY_DOMAIN,
        secret.as_slice(),
        &primary.evm_chain_id.to_be_bytes(),
        primary.settlement.as_slice(),
    ]
    .concat();
    PrivateKey::from_seed(&seed)
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let mode = std::fs::metadata(path)
        .map_err(|e| WalletError::Key(format!("cannot read key file {shown}: {e}")))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(WalletError::Key(format!(
            "key file {shown} has mode {mode:03o}: group or others may access it; \
             restrict it with `chmod 600 {shown}`"
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

/// The secret of account `index` of `mnemonic` (no passphrase) on `m/44'/60'/0'/0/index`:
/// the embedded chain's dev accounts (`manyfold_types::mnemonic`).
pub fn dev_secret(mnemonic: &str, index: u32) -> Result<B256> {
    manyfold_types::mnemonic::dev_secret(mnemonic, index)
        .map_err(|e| WalletError::Key(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    fn domain(evm_chain_id: u64, byte: u8) -> ChainDomain {
        ChainDomain {
            evm_chain_id,
            settlement: Address::repeat_byte(byte),
        }
    }

    #[test]
    fn dev_accounts_are_the_well_known_ones() {
        // Hardhat's and anvil's accounts 0, 1 and 9 of the public test mnemonic.
        let expected = [
            (0, address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")),
            (1, address!("70997970C51812dc3A010C7d01b50e0d17dc79C8")),
            (9, address!("a0Ee7A142d267C1f36714E4a8F75612F20a79720")),
        ];
        for (index, address) in expected {
            assert_eq!(EthKey::dev(DEV_MNEMONIC, index).unwrap().address(), address);
        }
        assert_eq!(
            dev_secret(DEV_MNEMONIC, 0).unwrap(),
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
                .parse::<B256>()
                .unwrap()
        );
        assert!(dev_secret("", 0).is_err());
        assert!(dev_secret("tést", 0).is_err());
        assert!(dev_secret(DEV_MNEMONIC, 1 << 31).is_err());
    }

    #[test]
    fn l2_keys_are_deterministic_and_differ_per_key_and_deployment() {
        let alice = EthKey::dev(DEV_MNEMONIC, 0).unwrap();
        let bob = EthKey::dev(DEV_MNEMONIC, 1).unwrap();
        let here = domain(31_337, 0xaa);
        let pk = |key: &EthKey, d: &ChainDomain| key.l2_key(d).public_key();

        // Deterministic: the same inputs, the same key, twice and through both paths.
        assert_eq!(pk(&alice, &here), pk(&alice, &here));
        assert_eq!(
            derive_l2_key(&alice.secret(), &here).public_key(),
            pk(&alice, &here)
        );
        // Another Ethereum key, another L2 key.
        assert_ne!(pk(&alice, &here), pk(&bob, &here));
        // Another deployment (EVM chain id or contract of the primary), another L2 key.
        assert_ne!(pk(&alice, &here), pk(&alice, &domain(31_338, 0xaa)));
        assert_ne!(pk(&alice, &here), pk(&alice, &domain(31_337, 0xab)));
        // It is not the key the test helpers derive from the same bytes without a domain.
        assert_ne!(
            pk(&alice, &here),
            PrivateKey::from_seed(alice.secret().as_slice()).public_key()
        );
    }

    #[test]
    fn keys_are_read_from_hex_env_and_files_without_echoing_them() {
        let secret = dev_secret(DEV_MNEMONIC, 2).unwrap();
        let hex = format!("{secret}");
        let from_hex = EthKey::from_hex(&format!("  {hex}\n"), "here").unwrap();
        assert_eq!(
            from_hex.address(),
            EthKey::dev(DEV_MNEMONIC, 2).unwrap().address()
        );
        assert!(EthKey::from_hex(hex.trim_start_matches("0x"), "here").is_ok());
        let err = EthKey::from_hex(&hex[..40], "variable K")
            .unwrap_err()
            .to_string();
        assert!(err.contains("variable K"), "{err}");
        assert!(!err.contains(&hex[2..20]), "the error shows no key: {err}");
        assert!(EthKey::from_hex(&format!("0x{}", "00".repeat(32)), "z").is_err());
        assert!(!format!("{from_hex:?}").contains(&hex[2..20]));

        let err = EthKey::from_env("MANYFOLD_WALLET_TEST_SURELY_UNSET")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MANYFOLD_WALLET_TEST_SURELY_UNSET is not set"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, &hex).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = EthKey::from_file(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(
            EthKey::from_file(&path).unwrap().address(),
            from_hex.address()
        );
        let missing = EthKey::from_file(&dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }
}
