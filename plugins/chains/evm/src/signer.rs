//! Where a chain's sending key comes from: a key file or an environment variable.

use std::path::{Path, PathBuf};

use manyfold_chain::{ConfigError, PluginSection};
use manyfold_sender::LocalSigner;

/// Where the private key of a chain's sender is read from. Names a place, never holds
/// the key, so it can be logged and compared freely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerSource {
    /// `signer_key_file`: a file holding the key as hex (`0x` optional, surrounding
    /// whitespace ignored). On Unix it must not be readable or writable by group or
    /// others (mode `0600` or `0400`).
    KeyFile(PathBuf),
    /// `signer_key_env`: an environment variable holding the key as hex.
    Env(String),
}

/// Why no signer could be made from a [`SignerSource`]. No message ever contains the key
/// or any part of it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerSourceError {
    /// The key file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file is open to other users.
    #[error(
        "key file {path} has mode {mode:03o}: group or others may access it; \
         restrict it with `chmod 600 {path}`"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The environment variable is not set (or not unicode).
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    /// The text is not a valid private key.
    #[error("{place} does not hold a valid secp256k1 private key (32 bytes of hex)")]
    InvalidKey {
        /// Where it was read: the file or the variable, named.
        place: String,
    },
}

impl SignerSource {
    /// Takes `signer_key_file` / `signer_key_env` from `section`: one of them, or neither
    /// (a chain that only reads).
    pub fn from_section(section: &mut PluginSection) -> Result<Option<Self>, ConfigError> {
        let file: Option<PathBuf> = section.take("signer_key_file")?;
        let env: Option<String> = section.take("signer_key_env")?;
        match (file, env) {
            (Some(_), Some(_)) => Err(section.invalid(
                "signer_key_file",
                "give one of `signer_key_file` and `signer_key_env`, not both",
            )),
            (Some(path), None) => Ok(Some(Self::KeyFile(path))),
            (None, Some(var)) if var.is_empty() => {
                Err(section.invalid("signer_key_env", "an empty variable name"))
            }
            (None, Some(var)) => Ok(Some(Self::Env(var))),
            (None, None) => Ok(None),
        }
    }

    /// Reads the key and makes a signer of it.
    pub fn load(&self) -> Result<LocalSigner, SignerSourceError> {
        match self {
            Self::KeyFile(path) => {
                check_permissions(path)?;
                let text =
                    std::fs::read_to_string(path).map_err(|source| SignerSourceError::Read {
                        path: path.clone(),
                        source,
                    })?;
                let place = format!("key file {}", path.display());
                parse_key(&text, place)
            }
            Self::Env(var) => {
                let text =
                    std::env::var(var).map_err(|_| SignerSourceError::MissingEnv(var.clone()))?;
                parse_key(&text, format!("environment variable {var}"))
            }
        }
    }
}

fn parse_key(text: &str, place: String) -> Result<LocalSigner, SignerSourceError> {
    // `from_hex` never echoes its input; the error here does not either.
    LocalSigner::from_hex(text.trim()).map_err(|_| SignerSourceError::InvalidKey { place })
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), SignerSourceError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path).map_err(|source| SignerSourceError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SignerSourceError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), SignerSourceError> {
    // No portable owner-only check off Unix; operators rely on the file's ACL there.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use manyfold_sender::TxSigner;
    use serde_json::json;

    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

    fn section(value: serde_json::Value) -> PluginSection {
        PluginSection::new("l2", "evm", value.as_object().unwrap().clone())
    }

    #[test]
    fn one_source_or_none() {
        let parse = |v| SignerSource::from_section(&mut section(v));
        assert_eq!(parse(json!({})).unwrap(), None);
        assert_eq!(
            parse(json!({"signer_key_env": "K"})).unwrap(),
            Some(SignerSource::Env("K".into()))
        );
        assert_eq!(
            parse(json!({"signer_key_file": "/k"})).unwrap(),
            Some(SignerSource::KeyFile("/k".into()))
        );
        let err = parse(json!({"signer_key_file": "/k", "signer_key_env": "K"})).unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        assert!(parse(json!({"signer_key_env": ""})).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn key_files_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, format!("{KEY}\n")).unwrap();
        let source = SignerSource::KeyFile(path.clone());
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = source.load().unwrap_err();
            assert!(
                matches!(err, SignerSourceError::Permissions { mode: m, .. } if m == mode),
                "{err}"
            );
            let text = err.to_string();
            assert!(text.contains("chmod 600"), "{text}");
            assert!(!text.contains(&KEY[2..10]), "never the key: {text}");
        }
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let signer = source.load().unwrap();
            assert_eq!(signer.address().to_string(), ADDRESS);
            assert!(!format!("{signer:?}").contains(&KEY[2..10]));
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "0xnot-a-key-at-all").unwrap();
        let err = source.load().unwrap_err().to_string();
        assert!(
            err.contains("valid secp256k1") && !err.contains("not-a-key"),
            "{err}"
        );
        let err = SignerSource::KeyFile(dir.path().join("absent"))
            .load()
            .unwrap_err();
        assert!(matches!(err, SignerSourceError::Read { .. }), "{err}");
    }

    #[test]
    fn keys_from_the_environment() {
        // A variable name only this test uses: tests run in parallel in one process.
        let var = "MANYFOLD_EVM_SIGNER_UNIT_TEST_KEY";
        let source = SignerSource::Env(var.into());
        assert!(matches!(source.load(), Err(SignerSourceError::MissingEnv(v)) if v == var));
        // SAFETY-free in edition 2021; no other test reads or writes this variable.
        std::env::set_var(var, format!("  {}  ", &KEY[2..]));
        assert_eq!(source.load().unwrap().address().to_string(), ADDRESS);
        std::env::set_var(var, "12");
        let err = source.load().unwrap_err().to_string();
        assert!(err.contains(var) && !err.contains("12 "), "{err}");
        std::env::remove_var(var);
    }
}
