//! Ethereum JSON-RPC over HTTP, on jsonrpsee: a thin shell over the engine's methods.

use std::net::SocketAddr;

use alloy_eips::{BlockId as RpcBlockId, BlockNumberOrTag};
use alloy_primitives::{Address, Bytes, TxKind, B256, U128, U256, U64};
use alloy_rpc_types_eth::{Filter, TransactionRequest};
use jsonrpsee::server::{BatchRequestConfig, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use manyfold_chain::{BlockId, BlockTag, ChainError};
use serde::de::DeserializeOwned;

use crate::chain::{Call, EmbeddedChain};
use crate::error::EmbeddedError;

/// Limits on what the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcLimits {
    /// The largest request body, in bytes. Default 10 MiB (a proof-carrying transaction is
    /// a few hundred KiB).
    pub max_request_body_size: u32,
    /// The largest response body, in bytes. Default 100 MiB.
    pub max_response_body_size: u32,
    /// The most calls in one batch. Default 100.
    pub max_batch_len: u32,
    /// The most open connections. Default 100.
    pub max_connections: u32,
}

impl Default for RpcLimits {
    fn default() -> Self {
        Self {
            max_request_body_size: 10 * 1024 * 1024,
            max_response_body_size: 100 * 1024 * 1024,
            max_batch_len: 100,
            max_connections: 100,
        }
    }
}

/// JSON-RPC's invalid-params code.
const INVALID_PARAMS: i32 = -32602;
/// The code geth and anvil use for refused transactions and failed reads.
const SERVER_ERROR: i32 = -32000;
/// The code of `execution reverted`, whose data is the revert data.
const EXECUTION_REVERTED: i32 = 3;

fn invalid_params(e: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS, format!("invalid params: {e}"), None::<()>)
}

/// A chain error as the JSON-RPC error Ethereum clients recognise: their messages match
/// on "nonce too low", "insufficient funds", "replacement transaction underpriced",
/// "already known" and code 3 "execution reverted".
pub(crate) fn rpc_error(e: ChainError) -> ErrorObjectOwned {
    match e {
        ChainError::Reverted { reason, data, .. } => {
            let message = match reason {
                Some(r) => format!("execution reverted: {r}"),
                None => "execution reverted".to_owned(),
            };
            if data.is_empty() {
                ErrorObjectOwned::owned(EXECUTION_REVERTED, message, None::<()>)
            } else {
                ErrorObjectOwned::owned(EXECUTION_REVERTED, message, Some(data))
            }
        }
        ChainError::NonceTooLow(m)
        | ChainError::Underpriced(m)
        | ChainError::InsufficientFunds(m)
        | ChainError::NotFound(m)
        | ChainError::Unsupported(m) => ErrorObjectOwned::owned(SERVER_ERROR, m, None::<()>),
        ChainError::AlreadyKnown => {
            ErrorObjectOwned::owned(SERVER_ERROR, "already known", None::<()>)
        }
        ChainError::Other(e)
            if matches!(
                e.downcast_ref::<EmbeddedError>(),
                Some(EmbeddedError::InvalidParams(_))
            ) =>
        {
            ErrorObjectOwned::owned(INVALID_PARAMS, e.to_string(), None::<()>)
        }
        other => ErrorObjectOwned::owned(SERVER_ERROR, other.to_string(), None::<()>),
    }
}

type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// Positional params: `N` required, the rest optional.
struct Args<'a>(jsonrpsee::types::params::ParamsSequence<'a>);

impl<'a> Args<'a> {
    fn new(params: &'a Params<'a>) -> Self {
        Self(params.sequence())
    }
    fn next<T: DeserializeOwned>(&mut self) -> RpcResult<T> {
        self.0.next().map_err(|e| invalid_params(e.message()))
    }
    fn optional<T: DeserializeOwned>(&mut self) -> RpcResult<Option<T>> {
        self.0
            .optional_next()
            .map_err(|e| invalid_params(e.message()))
    }
}

/// An RPC block id as the engine's; `pending` reads the head's state.
fn block_id(id: Option<RpcBlockId>) -> BlockId {
    match id {
        None => BlockId::Tag(BlockTag::Latest),
        Some(RpcBlockId::Hash(h)) => BlockId::Hash(h.block_hash),
        Some(RpcBlockId::Number(tag)) => match tag {
            BlockNumberOrTag::Earliest => BlockId::Number(0),
            BlockNumberOrTag::Number(n) => BlockId::Number(n),
            BlockNumberOrTag::Safe => BlockId::Tag(BlockTag::Safe),
            BlockNumberOrTag::Finalized => BlockId::Tag(BlockTag::Finalized),
            BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => BlockId::Tag(BlockTag::Latest),
        },
    }
}

fn call_of(req: TransactionRequest) -> Call {
    Call {
        from: req.from,
        to: match req.to {
            Some(TxKind::Call(a)) => Some(a),
            Some(TxKind::Create) | None => None,
        },
        input: req.input.input().cloned().unwrap_or_default(),
        value: req.value.unwrap_or_default(),
        gas: req.gas,
    }
}

/// A block count as hex or decimal, string or number, as clients send it.
fn block_count(value: serde_json::Value) -> RpcResult<u64> {
    match &value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        },
        _ => None,
    }
    .ok_or_else(|| invalid_params(format!("block count {value}")))
}

/// The server's methods on `chain`.
pub(crate) fn module(chain: EmbeddedChain) -> RpcModule<EmbeddedChain> {
    let mut m = RpcModule::new(chain);
    macro_rules! method {
        ($name:literal, |$args:ident, $chain:ident| $body:expr) => {
            #[allow(unused_variables)]
            m.register_blocking_method($name, |params, chain, _| {
                let $chain: &EmbeddedChain = &chain;
                #[allow(unused_mut)]
                let mut $args = Args::new(&params);
                $body
            })
            .expect(concat!("one registration of ", $name));
        };
    }

    method!("eth_chainId", |a, c| RpcResult::Ok(U64::from(c.chain_id())));
    method!("net_version", |a, c| RpcResult::Ok(
        c.chain_id().to_string()
    ));
    method!("web3_clientVersion", |a, c| RpcResult::Ok(concat!(
        "manyfold-embedded/v",
        env!("CARGO_PKG_VERSION")
    )));
    method!("eth_syncing", |a, c| RpcResult::Ok(false));
    method!("eth_accounts", |a, c| RpcResult::Ok(Vec::<Address>::new()));
    method!("eth_blockNumber", |a, c| RpcResult::Ok(U64::from(
        c.head().number
    )));
    method!("eth_getBalance", |a, c| {
        let (address, at): (Address, _) = (a.next()?, a.optional()?);
        c.balance(address, block_id(at)).map_err(rpc_error)
    });
    method!("eth_getCode", |a, c| {
        let (address, at): (Address, _) = (a.next()?, a.optional()?);
        c.code(address, block_id(at)).map_err(rpc_error)
    });
    method!("eth_getStorageAt", |a, c| {
        let (address, slot, at): (Address, U256, _) = (a.next()?, a.next()?, a.optional()?);
        c.storage_at(address, slot, block_id(at))
            .map(|v| B256::from(v.to_be_bytes()))
            .map_err(rpc_error)
    });
    method!("eth_getTransactionCount", |a, c| {
        let (address, at): (Address, Option<RpcBlockId>) = (a.next()?, a.optional()?);
        if at == Some(RpcBlockId::Number(BlockNumberOrTag::Pending)) {
            return Ok(U64::from(c.pending_nonce(address)));
        }
        c.nonce(address, block_id(at))
            .map(U64::from)
            .map_err(rpc_error)
    });
    method!("eth_call", |a, c| {
        let (req, at): (TransactionRequest, _) = (a.next()?, a.optional()?);
        if a.optional::<serde_json::Value>()?
            .is_some_and(|v| !v.is_null())
        {
            return Err(invalid_params("state overrides are not supported"));
        }
        c.call(&call_of(req), block_id(at)).map_err(rpc_error)
    });
    method!("eth_estimateGas", |a, c| {
        let (req, _at): (TransactionRequest, Option<RpcBlockId>) = (a.next()?, a.optional()?);
        c.estimate_gas(&call_of(req))
            .map(U64::from)
            .map_err(rpc_error)
    });
    method!("eth_gasPrice", |a, c| RpcResult::Ok(U128::from(
        u128::from(c.next_base_fee()) + c.suggested_tip()
    )));
    method!("eth_maxPriorityFeePerGas", |a, c| RpcResult::Ok(
        U128::from(c.suggested_tip())
    ));
    method!("eth_feeHistory", |a, c| {
        let count = block_count(a.next()?)?;
        let newest: BlockNumberOrTag = a.next()?;
        let percentiles: Option<Vec<f64>> = a.optional()?;
        c.fee_history(count, newest, percentiles.as_deref())
            .map_err(rpc_error)
    });
    method!("eth_sendRawTransaction", |a, c| {
        let raw: Bytes = a.next()?;
        c.send_raw(&raw).map_err(rpc_error)
    });
    method!("eth_getTransactionByHash", |a, c| {
        let hash: B256 = a.next()?;
        c.rpc_transaction(hash).map_err(rpc_error)
    });
    method!("eth_getTransactionReceipt", |a, c| {
        let hash: B256 = a.next()?;
        c.rpc_receipt(hash).map_err(rpc_error)
    });
    method!("eth_getLogs", |a, c| {
        let filter: Filter = a.next()?;
        c.rpc_logs(&filter).map_err(rpc_error)
    });
    method!("eth_getBlockByNumber", |a, c| {
        let (tag, full): (BlockNumberOrTag, Option<bool>) = (a.next()?, a.optional()?);
        let id = match tag {
            BlockNumberOrTag::Earliest => BlockId::Number(0),
            BlockNumberOrTag::Number(n) => BlockId::Number(n),
            _ => BlockId::Tag(BlockTag::Latest),
        };
        c.rpc_block(id, full.unwrap_or(false)).map_err(rpc_error)
    });
    method!("eth_getBlockByHash", |a, c| {
        let (hash, full): (B256, Option<bool>) = (a.next()?, a.optional()?);
        c.rpc_block(BlockId::Hash(hash), full.unwrap_or(false))
            .map_err(rpc_error)
    });
    m
}

/// Serves `chain`'s JSON-RPC over HTTP on `addr` (port 0 picks a free one). Returns the
/// bound address and the handle that stops the server (`handle.stop()`); the server also
/// stops when every handle is dropped.
pub async fn serve(
    chain: EmbeddedChain,
    addr: SocketAddr,
    limits: RpcLimits,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let config = ServerConfig::builder()
        .max_request_body_size(limits.max_request_body_size)
        .max_response_body_size(limits.max_response_body_size)
        .max_connections(limits.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(limits.max_batch_len))
        .http_only()
        .build();
    let server = Server::builder().set_config(config).build(addr).await?;
    let bound = server.local_addr()?;
    let handle = server.start(module(chain));
    Ok((bound, handle))
}
