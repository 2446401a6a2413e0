//! One error type for every chain plugin.

use alloy_primitives::{Bytes, B256};

/// A `Result` whose error is a [`ChainError`].
pub type Result<T, E = ChainError> = std::result::Result<T, E>;

/// What went wrong talking to a chain. Plugins map their own failures onto the shared
/// variants wherever one fits, so that the node's actors can react without knowing the
/// plugin; anything else goes in [`ChainError::Other`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The chain dropped a transaction it had accepted.
    #[error("transaction {tx} was dropped")]
    Dropped {
        /// The transaction.
        tx: B256,
    },
    /// The chain did not answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The sender cannot pay for the transaction.
    #[error("insufficient funds: {0}")]
    InsufficientFunds(String),
    /// A transaction or a call reverted.
    #[error("reverted{}{}", tx.map(|t| format!(" (transaction {t})")).unwrap_or_default(), reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Reverted {
        /// The mined transaction, `None` for a call.
        tx: Option<B256>,
        /// The decoded reason, when the plugin could decode one.
        reason: Option<String>,
        /// The raw revert data.
        data: Bytes,
    },
    /// The transaction's nonce is already used (it, or another, was mined with it).
    #[error("nonce too low: {0}")]
    NonceTooLow(String),
    /// The fee is too low to be accepted, or to replace the pending transaction of the same
    /// nonce.
    #[error("fee too low: {0}")]
    Underpriced(String),
    /// The chain already has this very transaction.
    #[error("transaction already known")]
    AlreadyKnown,
    /// The connection or the endpoint failed.
    #[error("transport: {0}")]
    Transport(String),
    /// Something asked for is not there (yet).
    #[error("not found: {0}")]
    NotFound(String),
    /// The chain or the plugin cannot do this.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A chain-specific error.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// What a supervisor does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Retry later (with backoff): the condition may clear by itself.
    Transient,
    /// Stop and report: retrying the same thing cannot succeed.
    Fatal,
}

impl ChainError {
    /// Wraps a chain-specific error.
    pub fn other(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Other(Box::new(error))
    }

    /// Whether to retry.
    ///
    /// Transient: timeouts and transport failures; a dropped or underpriced transaction
    /// (resend it, with a higher fee); nonce-too-low and already-known (the sender reads
    /// the status of what it sent rather than failing); insufficient funds (an operator
    /// tops the account up, and the pipeline resumes without a restart); not found (a head
    /// or block the endpoint has not seen yet).
    ///
    /// Fatal: a revert (DESIGN §7: a reverted settlement transaction stops its pipeline
    /// loudly, never retried blindly), an unsupported request, and chain-specific errors,
    /// which a plugin that knows one to be transient maps onto `Transport` or `Timeout`.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Dropped { .. }
            | Self::Timeout(_)
            | Self::InsufficientFunds(_)
            | Self::NonceTooLow(_)
            | Self::Underpriced(_)
            | Self::AlreadyKnown
            | Self::Transport(_)
            | Self::NotFound(_) => ErrorClass::Transient,
            Self::Reverted { .. } | Self::Unsupported(_) | Self::Other(_) => ErrorClass::Fatal,
        }
    }

    /// `self.class() == ErrorClass::Transient`.
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_whether_to_retry() {
        let transient = [
            ChainError::Dropped { tx: B256::ZERO },
            ChainError::Timeout("eth_blockNumber after 5s".into()),
            ChainError::InsufficientFunds("0xab.. has 0 wei".into()),
            ChainError::NonceTooLow("nonce 3, next 4".into()),
            ChainError::Underpriced("replacement".into()),
            ChainError::AlreadyKnown,
            ChainError::Transport("connection refused".into()),
            ChainError::NotFound("the finalized block".into()),
        ];
        for e in &transient {
            assert_eq!(e.class(), ErrorClass::Transient, "{e}");
            assert!(e.is_transient());
        }
        let fatal = [
            ChainError::Reverted {
                tx: Some(B256::ZERO),
                reason: Some("not the operator".into()),
                data: Bytes::new(),
            },
            ChainError::Unsupported("safe tag".into()),
            ChainError::other(std::io::Error::other("chain-specific")),
        ];
        for e in &fatal {
            assert_eq!(e.class(), ErrorClass::Fatal, "{e}");
            assert!(!e.is_transient());
        }
    }

    #[test]
    fn messages_carry_the_details() {
        let e = ChainError::Reverted {
            tx: None,
            reason: Some("bad proof".into()),
            data: Bytes::new(),
        };
        assert_eq!(e.to_string(), "reverted: bad proof");
        let e = ChainError::Reverted {
            tx: Some(B256::repeat_byte(1)),
            reason: None,
            data: Bytes::new(),
        };
        assert!(
            e.to_string().starts_with("reverted (transaction 0x0101"),
            "{e}"
        );
        let e = ChainError::other(std::io::Error::other("rpc says no"));
        assert_eq!(e.to_string(), "rpc says no");
    }
}
