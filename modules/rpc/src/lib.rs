//! The Manyfold JSON-RPC API, over HTTP and WebSocket on one port.
//!
//! - [`api::ManyfoldApiServer`]: the methods, all in the `manyfold_` namespace, plus
//!   `rpc.discover`, which serves the OpenRPC document kept at `openrpc.json`.
//! - JSON follows Ethereum RPC: integers are hex quantities, bytes are `0x`-prefixed hex.
//! - Errors carry the codes of [`errors::codes`], stable for clients to match on.
//! - Limits (request and response size, batch length, connections, subscriptions per
//!   connection) come from [`RpcConfig`].

pub mod api;
pub mod errors;
mod server;

pub use server::{module, start, ExitReplica, RpcConfig, RpcContext, RpcHandle, OPENRPC_DOCUMENT};
