use crate::CodecError;

/// Errors of the storage layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The backend failed (I/O, corruption detected by the backend).
    #[error("storage backend error: {0}")]
    Backend(String),
    /// A stored key or value could not be decoded as the table's type.
    #[error("cannot decode {what} of table `{table}`: {source}")]
    Decode {
        /// Table name.
        table: &'static str,
        /// `"key"` or `"value"`.
        what: &'static str,
        /// What was wrong with the bytes.
        source: CodecError,
    },
}

/// Result alias of this crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        StorageError::Backend(e.to_string())
    }
}
