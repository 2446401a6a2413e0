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
    /// A transaction whose gas limit is below its intrinsic gas: 21,000, plus 32,000 for a
    /// creation, its calldata, access list and init code words, or EIP-7623's calldata
    /// floor when higher.
    #[error("intrinsic gas too low: gas {gas}, needs {needed}")]
    IntrinsicGasTooLow {
        /// The transaction's gas limit.
        gas: u64,
        /// Its intrinsic gas.
        needed: u64,
    },
    /// The pool holds as many transactions as it may, none of which the newcomer may
    /// evict.
    #[error("txpool is full ({0} transactions)")]
    PoolFull(usize),
    /// The sender already has as many pooled transactions as one sender may.
    #[error("txpool: sender {sender} already has {max} pending transactions")]
    SenderPoolFull {
        /// The sender.
        sender: alloy_primitives::Address,
        /// [`crate::EmbeddedConfig::max_txs_per_sender`].
        max: usize,
    },
    /// A nonce too far ahead of the sender's account nonce.
    #[error("nonce too high: next nonce {next}, tx nonce {nonce}, at most {max_ahead} ahead")]
    NonceTooHigh {
        /// The transaction's nonce.
        nonce: u64,
        /// The account's nonce.
        next: u64,
        /// [`crate::EmbeddedConfig::max_nonce_ahead`].
        max_ahead: u64,
    },
    /// Signed bytes above [`crate::EmbeddedConfig::max_tx_size`].
    #[error("oversized data: transaction size {size}, limit {max}")]
    TxTooLarge {
        /// The transaction's size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A creation whose init code is above EIP-3860's limit (49,152 bytes).
    #[error("max initcode size exceeded: code size {size}, limit {max}")]
    InitcodeTooLarge {
        /// The init code's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A dynamic-fee transaction whose tip is above its fee cap.
    #[error("max priority fee per gas higher than max fee per gas: tip {tip}, max fee {max_fee}")]
    TipAboveFeeCap {
        /// `maxPriorityFeePerGas`.
        tip: u128,
        /// `maxFeePerGas`.
        max_fee: u128,
    },
    /// A legacy transaction without a chain id, refused unless
    /// [`crate::EmbeddedConfig::allow_unprotected_txs`].
    #[error("only replay-protected (EIP-155) transactions allowed over RPC")]
    Unprotected,
    /// An `eth_getLogs` over more blocks than [`crate::EmbeddedConfig::max_logs_block_range`].
    #[error("query exceeds max block range {0}")]
    LogsRangeTooLarge(u64),
    /// An `eth_getLogs` matching more logs than [`crate::EmbeddedConfig::max_logs_results`].
    #[error("query returned more than {0} results")]
    TooManyLogs(usize),
    /// Request parameters the chain refuses (reward percentiles of `eth_feeHistory`).
    #[error("invalid params: {0}")]
    InvalidParams(String),
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
