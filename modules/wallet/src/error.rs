//! The wallet's one error type.

use alloy_primitives::{Address, B256};

/// A `Result` whose error is a [`WalletError`].
pub type Result<T, E = WalletError> = std::result::Result<T, E>;

/// Why a wallet command failed. Every message names what is wrong (the chain, the token,
/// the amount, the file) and, where there is one, what to do about it. No message ever
/// contains a secret key or any part of one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The command line asks for something impossible: an unknown chain name, a token
    /// that is not on that chain, an amount with more decimals than the token has there,
    /// conflicting options.
    #[error("{0}")]
    Usage(String),
    /// No key, or a key that cannot be read or is not a secp256k1 secret key.
    #[error("key: {0}")]
    Key(String),
    /// The node could not be reached or answered something unreadable.
    #[error("node {url}: {message}")]
    Node {
        /// The node's URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The node refused a request (a transaction it will not take, a bad parameter).
    #[error("the node refused {method}: {message}")]
    Refused {
        /// The JSON-RPC method.
        method: String,
        /// The node's message.
        message: String,
    },
    /// The address has no L2 account yet.
    #[error("{address} has no L2 account yet: deposit first (`manyfold wallet deposit`)")]
    NoAccount {
        /// The address.
        address: Address,
    },
    /// What a settlement chain answered, or that it could not be reached.
    #[error("chain {chain}: {message}")]
    Chain {
        /// The chain's name.
        chain: String,
        /// What failed.
        message: String,
    },
    /// A transaction was taken but failed: an L1 transaction reverted, or an L2
    /// transaction was dropped when its block was built.
    #[error("transaction {hash} failed: {reason}")]
    Failed {
        /// The transaction.
        hash: B256,
        /// Why, as far as known.
        reason: String,
    },
    /// Nothing can be claimed yet.
    #[error("nothing to claim for {owner} of token {token} on chain {chain}: the withdrawal is not executed there yet (see `manyfold wallet status`)")]
    NothingToClaim {
        /// The chain.
        chain: String,
        /// The token id.
        token: u16,
        /// The owner of the pending balance.
        owner: Address,
    },
    /// A wait ran past `--timeout-s`.
    #[error("timed out after {seconds} s: {what}")]
    Timeout {
        /// The limit.
        seconds: u64,
        /// What was awaited, and where it stood.
        what: String,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// Writing the command's output failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

impl WalletError {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    pub(crate) fn chain(chain: &str, message: impl std::fmt::Display) -> Self {
        Self::Chain {
            chain: chain.to_owned(),
            message: message.to_string(),
        }
    }
}
