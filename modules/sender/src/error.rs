//! The sender's one error type.

use alloy_primitives::Address;
use manyfold_chain::{ChainError, ErrorClass};
use manyfold_storage::StorageError;

use crate::signer::SignerError;
use crate::store::StopReason;

/// A `Result` whose error is a [`SenderError`].
pub type Result<T, E = SenderError> = std::result::Result<T, E>;

/// What went wrong in the durable sender.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SenderError {
    /// The sender is stopped (a settlement transaction was mined but reverted, or its nonce
    /// was used by a transaction it never signed). Every call that would enqueue or send
    /// answers this until an operator calls `clear_stop`.
    #[error("the sender is stopped: {0}")]
    Stopped(StopReason),
    /// Reading from or sending to the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The store failed; nothing that depended on the write happened.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The signer refused.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// The configuration cannot work.
    #[error("invalid sender configuration: {0}")]
    Config(String),
    /// The chain is not the one the configuration names.
    #[error("the chain reports EVM chain id {actual}, the configuration says {expected}")]
    WrongChain {
        /// Configured.
        expected: u64,
        /// Reported by the chain.
        actual: u64,
    },
    /// The signer's key is not the configured sender's.
    #[error("the signer signs for {actual}, the configuration names sender {expected}")]
    WrongSigner {
        /// Configured.
        expected: Address,
        /// The signer's address.
        actual: Address,
    },
    /// A request the sender refuses before storing it.
    #[error("invalid transaction request: {0}")]
    InvalidRequest(String),
}

impl SenderError {
    /// What a supervisor does about it: retry chain errors the chain crate calls transient
    /// and storage failures (the store may recover); stop on everything else, a stopped
    /// sender first of all.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Chain(e) => e.class(),
            Self::Storage(_) => ErrorClass::Transient,
            Self::Stopped(_)
            | Self::Signer(_)
            | Self::Config(_)
            | Self::WrongChain { .. }
            | Self::WrongSigner { .. }
            | Self::InvalidRequest(_) => ErrorClass::Fatal,
        }
    }
}
