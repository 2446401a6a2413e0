//! The chain plugin interface: what the node's settler, sync actors and watchers need
//! from a settlement chain, and nothing of the node itself.
//!
//! A plugin crate (`plugins/chains/*`) depends on this crate and `manyfold-types` only.
//! It implements the three traits — [`ChainReader`] (heads, blocks, logs, calls,
//! receipts, nonces and balances), [`ChainFees`] (EIP-1559 estimates) and [`ChainSender`]
//! (raw signed transactions and their status) — plus [`Chain`], which bundles them with the
//! plugin's [`Capabilities`]. The node registers a [`ChainFactory`] per `kind` in a
//! [`ChainRegistry`] and builds one plugin per `[chains.NAME]` section of its config.
//!
//! Every method returns a [`ChainFuture`]: a boxed `Send` future, so that the traits stay
//! usable as `dyn Chain` (native `async fn` in traits is not object-safe) without a macro
//! crate. Errors are one [`ChainError`] whose [`ChainError::class`] tells a supervisor
//! whether to retry.
//!
//! Feature `test-utils` adds `testing`: an in-memory `MockChain` and a `MockFactory` that
//! builds them from config.

mod config;
mod error;
mod finality;
mod registry;
mod traits;
mod types;

#[cfg(any(test, feature = "test-utils"))]
pub mod testing;

pub use config::{parse_chains, ChainSpec, ConfigError, PluginSection, Table, COMMON_KEYS};
pub use error::{ChainError, ErrorClass, Result};
pub use finality::{BadFinality, Finality};
pub use registry::{check_primary, BuiltChain, ChainFactory, ChainRegistry, DuplicateKind};
pub use traits::{Chain, ChainFees, ChainFuture, ChainReader, ChainSender};
pub use types::{
    BlockId, BlockRef, BlockTag, CallRequest, Capabilities, FeeEstimate, Log, LogFilter, Receipt,
    TxStatus,
};

pub use alloy_primitives::{Address, Bytes, B256, U256};
