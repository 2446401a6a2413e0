//! The engine's errors.

use manyfold_chain::{BlockId, ChainError};
use manyfold_storage::StorageError;

/// What went wrong in the embedded chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// The store failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The store was made for another chain.
    #[error("the store holds chain {stored}, and the configured chain id is {configured}")]
    ChainIdMismatch {
        /// The chain id the store was created with.
        stored: u64,
        /// The configured one.
        configured: u64,
    },
    /// The store is not what this engine writes.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The mnemonic or a derived key is unusable.
    #[error("dev accounts: {0}")]
    DevKey(String),
    /// Bytes that are not one EIP-2718 transaction of a supported type.
    #[error("invalid transaction: {0}")]
    BadTransaction(String),
    /// A transaction signed for another chain.
    #[error("invalid chain id: transaction for chain {tx}, this is chain {chain}")]
    WrongChainId {
        /// The transaction's chain id.
        tx: u64,
        /// This chain's.
        chain: u64,
    },
    /// A transaction whose gas limit no block can hold.
    #[error("exceeds block gas limit: gas {gas}, block limit {limit}")]
    GasLimitTooHigh {
        /// The transaction's gas limit.
        gas: u64,
        /// The block gas limit.
        limit: u64,
    },
    /// A transaction whose gas limit is below what any transaction costs.
    #[error("intrinsic gas too low: gas {0}, at least 21000")]
    IntrinsicGasTooLow(u64),
    /// The pool holds as many transactions as it may.
    #[error("txpool is full ({0} transactions)")]
    PoolFull(usize),
    /// The EVM refused a transaction when it came to execute it; it was dropped.
    #[error("transaction dropped at execution: {0}")]
    Invalid(String),
    /// A state read at a block other than the head: history is not kept.
    #[error("state at {0} is not available: the embedded chain keeps the latest state only")]
    HistoricalState(BlockId),
    /// The EVM failed for a reason other than the transaction.
    #[error("evm: {0}")]
    Evm(String),
}

impl From<EmbeddedError> for ChainError {
    fn from(e: EmbeddedError) -> Self {
        match e {
            EmbeddedError::HistoricalState(_) => ChainError::Unsupported(e.to_string()),
            other => ChainError::other(other),
        }
    }
}
