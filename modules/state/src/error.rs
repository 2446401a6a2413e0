//! Errors of the state machine.

use manyfold_types::{AccountId, Amount, ChainId, Nonce, TokenId};

/// Why an operation was refused. A refused operation changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The account does not exist.
    #[error("account {0} does not exist")]
    UnknownAccount(AccountId),
    /// The account has no L2 key registered, so it cannot sign.
    #[error("account {0} has no L2 key registered; a ChangePubKey must come first")]
    NoKeyRegistered(AccountId),
    /// The transaction's public key is not the account's registered key.
    #[error("the signing key is not the key registered for account {0}")]
    WrongSigner(AccountId),
    /// The L2 signature does not verify.
    #[error("invalid L2 signature")]
    BadSignature,
    /// The Ethereum signature of a ChangePubKey is not by the account's address.
    #[error("the ChangePubKey authorisation is not signed by the account's address: {0}")]
    BadEthSignature(String),
    /// The nonce is not the account's current one.
    #[error("nonce {got} is not account {account}'s current nonce {expected}")]
    BadNonce {
        /// Account.
        account: AccountId,
        /// Its current nonce.
        expected: Nonce,
        /// The transaction's.
        got: Nonce,
    },
    /// The account's nonce counter is exhausted.
    #[error("account {0} has used every nonce")]
    NonceExhausted(AccountId),
    /// The balance is below the amount.
    #[error("account {account} holds {balance} of token {token}, less than {amount}")]
    InsufficientBalance {
        /// Account.
        account: AccountId,
        /// Token.
        token: TokenId,
        /// Its balance.
        balance: Amount,
        /// Amount asked.
        amount: Amount,
    },
    /// A balance would exceed the amount range.
    #[error("account {account}'s balance of token {token} would overflow")]
    BalanceOverflow {
        /// Account.
        account: AccountId,
        /// Token.
        token: TokenId,
    },
    /// The destination chain's reserve of the token is below the amount.
    #[error("chain {chain} holds {reserve} of token {token}, less than {amount}")]
    InsufficientReserve {
        /// Chain.
        chain: ChainId,
        /// Token.
        token: TokenId,
        /// The reserve.
        reserve: Amount,
        /// Amount asked.
        amount: Amount,
    },
    /// A chain's reserve would exceed the amount range.
    #[error("chain {chain}'s reserve of token {token} would overflow")]
    ReserveOverflow {
        /// Chain.
        chain: ChainId,
        /// Token.
        token: TokenId,
    },
    /// A transfer names the same account twice.
    #[error("account {0} cannot transfer to itself")]
    SelfTransfer(AccountId),
    /// A ChangePubKey to the zero hash, which would lock the account.
    #[error("the zero pubkey hash cannot be registered")]
    ZeroPubKeyHash,
    /// The op names a chain outside the chain set fixed at genesis.
    #[error("chain {chain} is not one of this rollup's {chains} chains")]
    UnknownChain {
        /// The chain named.
        chain: ChainId,
        /// How many chains the rollup has (ids 0 to chains - 1).
        chains: usize,
    },
    /// The stored state was made for another chain set.
    #[error("the stored state belongs to another chain set: {0}")]
    ChainSetMismatch(String),
    /// Reading or writing durable state failed.
    #[error(transparent)]
    Storage(#[from] manyfold_storage::StorageError),
    /// Stored state is inconsistent with itself.
    #[error("stored state is corrupt: {0}")]
    Corrupt(String),
    /// A published pubdata record disagrees with the state it is replayed on
    /// ([`crate::L2State::replay`]): not the effect the op has there.
    #[error("the published pubdata does not replay: {0}")]
    NotReplayable(String),
}

/// Result alias of this crate.
pub type Result<T, E = StateError> = std::result::Result<T, E>;
