//! Any EVM chain over Ethereum JSON-RPC, through alloy: the `evm` chain plugin.
//!
//! - [`EvmChain`] implements [`manyfold_chain::Chain`] (reading, fees, sending) against
//!   one endpoint, with a timeout on every request, bounded retries with exponential
//!   backoff for failures worth a retry, JSON-RPC errors mapped onto
//!   [`manyfold_chain::ChainError`], `eth_getLogs` split into bounded ranges (halved again
//!   when the endpoint refuses one for its size), and an up/down gauge. It is a secondary
//!   unless its config declares `verifies_proofs` (a chain with the verifier precompile,
//!   DESIGN §10), which is checked against the chain when it is built.
//! - [`factory`] builds one per `[chains.NAME]` section of `kind = "evm"` ([`EvmConfig`]
//!   lists the keys), checking the endpoint's chain id and loading the signer at build time.
//! - [`SignerSource`] reads a sending key from a private key file or an environment
//!   variable, for [`manyfold_sender::DurableSender`].
//!
//! Plain HTTP only by default; the `tls` feature adds HTTPS (rustls).

mod chain;
mod config;
mod errors;
mod factory;
mod health;
mod signer;
mod transport;

pub use chain::{redacted, EvmChain, EvmError, VERIFIER_PRECOMPILE};
pub use config::{EvmConfig, KEYS, KIND};
pub use errors::RpcFailure;
pub use factory::{factory, EvmFactory};
pub use signer::{SignerSource, SignerSourceError};
