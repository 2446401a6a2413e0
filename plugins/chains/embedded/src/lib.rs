//! An EVM chain on revm inside the node process, verifying Manyfold proofs, with a
//! standard Ethereum JSON-RPC (DESIGN §5, §7, §10).
//!
//! - [`EmbeddedChain`]: the engine. State, blocks, transactions, receipts and logs live in
//!   typed tables of the storage trait; every block is one atomic commit, so a process
//!   killed anywhere reopens at a consistent block. The current state is also held in
//!   memory; historical state is not kept.
//! - It implements [`manyfold_chain::Chain`]; [`factory`] builds it from a
//!   `[chains.NAME]` section of kind `embedded`.
//! - [`serve`] answers Ethereum JSON-RPC over HTTP, for cast, alloy and wallets.
//! - [`run_standalone`] runs a chain as its own process (`manyfold chain`).
//!
//! With a verifying key configured, the verifier precompile of `manyfold-precompile` is
//! installed at `0x…F01D` and the chain can be the primary.

mod chain;
mod config;
mod dev;
mod error;
mod evm;
mod fees;
mod plugin;
mod pool;
mod rpc;
mod standalone;
mod tables;
mod view;

pub use chain::{Call, EmbeddedChain, MinerHandle, MAX_ESTIMATE_RUNS, SUGGESTED_TIP};
pub use config::{BlockTime, EmbeddedConfig, DEV_MNEMONIC};
pub use dev::{dev_accounts, sign, DevAccount};
pub use error::EmbeddedError;
pub use fees::{next_base_fee, CHANGE_DENOMINATOR, ELASTICITY};
pub use plugin::{factory, factory_with, PluginKeys, DEFAULT_CHAIN_ID};
pub use rpc::{serve, RpcLimits};
pub use standalone::{
    run_standalone, start_standalone, Standalone, StandaloneConfig, StandaloneError,
};
pub use view::MAX_FEE_HISTORY;
