//! The settler's errors.

use manyfold_chain::ChainError;
use manyfold_contracts::settlement::BookkeepingError;
use manyfold_sender::SenderError;

use crate::stages::StageError;

/// Why a settlement step did not finish. A step that fails changes nothing it has not
/// committed durably; the actor runs the next step from the stored state.
#[derive(Debug, thiserror::Error)]
pub enum SettlerError {
    /// A chain could not be read (down, lagging, refusing): retried on the next step.
    #[error("chain `{chain}`: {source}")]
    Chain {
        /// The chain's name.
        chain: String,
        /// What it said.
        #[source]
        source: ChainError,
    },
    /// The durable sender refused a request (stopped after a revert, misconfigured).
    #[error("sender of chain `{chain}`: {source}")]
    Sender {
        /// The chain's name.
        chain: String,
        /// Why (boxed: a stop reason carries the transaction's whole story).
        #[source]
        source: Box<SenderError>,
    },
    /// The node's store failed.
    #[error("storage: {0}")]
    Storage(#[from] manyfold_storage::StorageError),
    /// A stage record was refused.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The bookkeeping refused a block.
    #[error(transparent)]
    Bookkeeping(#[from] BookkeepingError),
    /// A sealed block or its ops could not be read.
    #[error("sealed blocks: {0}")]
    Blocks(String),
    /// A contract disagrees with what the node recorded (another operator, a wrong
    /// deployment, a chain that lies): the actor stops and an operator must look.
    #[error("chain `{chain}`: {reason}")]
    Mismatch {
        /// The chain's name.
        chain: String,
        /// What disagrees.
        reason: String,
    },
    /// A chain stores a block other than the one the node computed (committed out of band,
    /// or a chain that lies): the committee does not attest it and nothing built on it
    /// confirms. The actor stops and an operator must look.
    #[error("chain `{chain}`: block {block}: {reason}")]
    Diverged {
        /// The chain's name.
        chain: String,
        /// The L2 block it stores differently.
        block: u32,
        /// What it stores, and what the node computed.
        reason: String,
    },
    /// A contract answered something that is not what its ABI says.
    #[error("chain `{chain}`: cannot decode `{call}`: {reason}")]
    Decode {
        /// The chain's name.
        chain: String,
        /// The view called.
        call: &'static str,
        /// Why.
        reason: String,
    },
    /// A chain watcher could not read or hand out its priority ops (retried).
    #[error("watcher: {0}")]
    Watcher(String),
    /// The committee would not attest.
    #[error("attestation: {0}")]
    Attestation(String),
}

impl SettlerError {
    /// Whether the actor must stop: the chain or the store disagrees with the records, or
    /// the sender stopped. Every other error is retried on the next step.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Mismatch { .. } | Self::Diverged { .. } | Self::Bookkeeping(_) | Self::Stage(_)
        ) || matches!(self, Self::Sender { source, .. } if matches!(**source, SenderError::Stopped(_)))
    }
}

/// The settler's results.
pub type Result<T, E = SettlerError> = std::result::Result<T, E>;
