//! The Manyfold node: the one composition point of every component.
//!
//! [`start`] opens the store, starts the supervised actors (mempool, block builder) and
//! the JSON-RPC server, and returns a [`RunningNode`]; [`run`] does that and waits for
//! SIGINT or SIGTERM to shut down gracefully. The `manyfold` binary is a thin CLI over
//! these.

pub mod chains;
pub mod config;
pub mod deploy;
pub mod devnet;
mod metrics_endpoint;
mod node;
pub mod senders;
pub mod settlement;
pub mod stdout;

pub use node::{run, run_with, start, NodeError, RunningNode};
