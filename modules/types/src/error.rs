//! Errors of this crate.
/// Errors of constructing or decoding protocol types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypesError {
    /// An id is beyond what the state trees can address.
    #[error("{kind} {value} is out of range (maximum {max})")]
    IdOutOfRange {
        /// Which id.
        kind: &'static str,
        /// The value given.
        value: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// An amount does not fit the L2 range or its conversion loses precision.
    #[error("amount {0}")]
    Amount(String),
    /// Bytes of the wrong length.
    #[error("{what}: expected {expected} bytes, got {actual}")]
    Length {
        /// What was being decoded.
        what: &'static str,
        /// Required length.
        expected: usize,
        /// Length found.
        actual: usize,
    },
    /// Bytes of the right length that do not encode a valid value.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What was being decoded.
        what: &'static str,
        /// Why it is invalid.
        why: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = TypesError> = std::result::Result<T, E>;

pub(crate) fn invalid(what: &'static str, why: impl Into<String>) -> TypesError {
    TypesError::Invalid {
        what,
        why: why.into(),
    }
}

pub(crate) fn check_len(what: &'static str, bytes: &[u8], expected: usize) -> Result<()> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(TypesError::Length {
            what,
            expected,
            actual: bytes.len(),
        })
    }
}
