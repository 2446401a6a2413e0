//! The user's wallet: `manyfold wallet …`.
//!
//! - [`WalletArgs`]: the command line (a `clap::Args`, for the node's binary to mount as a
//!   subcommand), with its commands `deposit`, `register`, `transfer`, `withdraw`,
//!   `claim`, `balance` and `status`, and for exodus (DESIGN §4) `exodus`, `exit` and
//!   `refund`, which need only the chains (the operator, and its node, may be gone).
//! - [`run`]: runs one command on a runtime of its own, writing only what was asked for
//!   (hashes, balances, stages) to `out`; progress and notes go to stderr.
//!   [`run_async`] is the same for a caller already inside a Tokio runtime.
//! - [`WalletError`]: what went wrong, naming the chain, token, amount or file.
//!
//! The wallet talks to the node's JSON-RPC ([`DEFAULT_NODE`] unless `--node`) and to each
//! settlement chain's Ethereum JSON-RPC through the `evm` chain plugin; it signs L1
//! transactions with the user's Ethereum key and L2 transactions with an L2 key derived
//! from it ([`keys`] explains the derivation).

pub mod amount;
pub mod chains;
mod cli;
mod commands;
mod error;
pub mod keys;
mod l1;
mod node;
pub mod status;

pub use cli::{
    parse_status_target, parse_token, parse_token_id, BalanceArgs, ClaimArgs, DepositArgs,
    ExitArgs, ExodusArgs, Recipient, RefundArgs, RegisterArgs, StatusArgs, StatusTarget, TokenSpec,
    TransferArgs, WalletArgs, WalletCommand, WithdrawArgs, DEFAULT_NODE,
};
pub use error::{Result, WalletError};
pub use node::AccountView;

/// Runs one wallet command, writing its output to `out`.
///
/// Starts a single-threaded Tokio runtime of its own, so it must not be called from
/// inside a runtime (use [`run_async`] there, or `spawn_blocking`).
pub fn run(args: WalletArgs, out: &mut dyn std::io::Write) -> Result<(), WalletError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(WalletError::Runtime)?;
    runtime.block_on(run_async(args, out))
}

/// [`run`] for a caller already inside a Tokio runtime (with timers and I/O enabled).
pub async fn run_async(args: WalletArgs, out: &mut dyn std::io::Write) -> Result<(), WalletError> {
    commands::run(args, out).await
}
