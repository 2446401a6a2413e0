use alloy_primitives::B256;
use manyfold_state::StateError;
use manyfold_types::{AccountId, ChainId, Nonce, TokenId};

/// Why the mempool refused something. A refusal changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The pool holds its maximum number of transactions.
    #[error("mempool is full ({limit} transactions)")]
    Full {
        /// The configured limit (`mempool.max_txs`).
        limit: usize,
    },
    /// The account has its maximum number of queued transactions.
    #[error("account {account} already has {limit} queued transactions")]
    AccountLimit {
        /// Account.
        account: AccountId,
        /// The configured limit (`mempool.max_txs_per_account`).
        limit: usize,
    },
    /// The priority lane holds its maximum number of ops.
    #[error("priority lane is full ({limit} ops)")]
    PriorityFull {
        /// The configured limit (`mempool.max_priority_ops`).
        limit: usize,
    },
    /// The same transaction is already pooled.
    #[error("transaction {0} is already in the mempool")]
    Duplicate(B256),
    /// The nonce was already used (a replay, or a transaction already included).
    #[error("nonce {got} of account {account} is already used; next is {expected}")]
    NonceTooLow {
        /// Account.
        account: AccountId,
        /// The next usable nonce.
        expected: Nonce,
        /// The transaction's.
        got: Nonce,
    },
    /// The nonce leaves a gap after the account's queued transactions.
    #[error("nonce {got} of account {account} leaves a gap; next is {expected}")]
    NonceGap {
        /// Account.
        account: AccountId,
        /// The next usable nonce.
        expected: Nonce,
        /// The transaction's.
        got: Nonce,
    },
    /// A withdrawal of a token the destination chain does not carry.
    #[error(
        "token {token} is not registered on chain {chain}: a withdrawal there could not be paid"
    )]
    TokenNotOnChain {
        /// The destination chain.
        chain: ChainId,
        /// The token.
        token: TokenId,
    },
    /// A withdrawal with digits below the token's precision on the destination chain.
    #[error("token {token} has {decimals}-decimal precision on chain {chain}: a withdrawal there must be a multiple of {unit} L2 units")]
    BelowPrecision {
        /// The destination chain.
        chain: ChainId,
        /// The token.
        token: TokenId,
        /// Its decimals on that chain.
        decimals: u8,
        /// The L2 units of its smallest local unit.
        unit: u128,
    },
    /// The state's rules refuse the transaction.
    #[error(transparent)]
    Rejected(#[from] StateError),
    /// A priority op that was already consumed or queued.
    #[error("priority op {serial_id} of chain {chain} was already received")]
    DuplicatePriority {
        /// Chain.
        chain: ChainId,
        /// Serial id.
        serial_id: u64,
    },
    /// A priority op that skips serial ids of its chain.
    #[error("priority op {got} of chain {chain} skips ahead; next is {expected}")]
    PriorityGap {
        /// Chain.
        chain: ChainId,
        /// Next expected serial id.
        expected: u64,
        /// Received.
        got: u64,
    },
    /// The transaction could not be made durable; it was not admitted.
    #[error("storage: {0}")]
    Storage(#[from] manyfold_storage::StorageError),
    /// The mempool did not answer in time or is restarting.
    #[error("mempool unavailable: {0}")]
    Unavailable(String),
}
