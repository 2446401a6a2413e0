//! The smallest complete chain plugin: the example of plugins/chains/README.md.
//!
//! [`ExampleChain`] drives any Ethereum JSON-RPC endpoint over plain HTTP with
//! `jsonrpsee-http-client`, mapping each trait method onto one `eth_` method (two where
//! noted) and the endpoint's error messages onto [`ChainError`]. [`ExampleFactory`] builds
//! it from a `[chains.NAME]` section of kind [`KIND`]:
//!
//! ```toml
//! [chains.devnet]
//! kind = "example"
//! id = 1
//! url = "http://127.0.0.1:8545"
//! ```
//!
//! It is a secondary chain only: it cannot verify proofs.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{keccak256, Address, Bytes, B256, U128, U256, U64};
use jsonrpsee::core::client::{ClientT, Error as RpcError};
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use manyfold_chain::{
    BlockId, BlockRef, CallRequest, Capabilities, Chain, ChainError, ChainFactory, ChainFees,
    ChainFuture, ChainReader, ChainSender, ChainSpec, ConfigError, FeeEstimate, Log, LogFilter,
    PluginSection, Receipt, Result, TxStatus,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

/// The `kind` this plugin registers under.
pub const KIND: &str = "example";

/// How long one JSON-RPC request may take before it is a [`ChainError::Timeout`].
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A chain reached over Ethereum JSON-RPC at one HTTP URL.
#[derive(Debug, Clone)]
pub struct ExampleChain {
    client: HttpClient,
}

impl ExampleChain {
    /// A plugin for the endpoint at `url` (`http://` only). Nothing is sent until the first
    /// call, so a node that is down shows as a transient [`ChainError::Transport`] then.
    pub fn connect(url: &str) -> Result<Self> {
        let client = HttpClientBuilder::default()
            .request_timeout(REQUEST_TIMEOUT)
            .build(url)
            .map_err(|e| ChainError::Transport(format!("{url}: {e}")))?;
        Ok(Self { client })
    }

    async fn rpc<T: DeserializeOwned>(&self, method: &str, params: Vec<Value>) -> Result<T> {
        self.client.request(method, params).await.map_err(map_error)
    }
}

/// Maps a JSON-RPC failure onto the shared errors. Nodes differ in wording (geth, reth,
/// anvil, Nethermind), so the message is matched on the fragments they share.
fn map_error(error: RpcError) -> ChainError {
    let RpcError::Call(answer) = error else {
        return match error {
            RpcError::RequestTimeout => ChainError::Timeout("JSON-RPC request".into()),
            RpcError::Transport(e) => ChainError::Transport(e.to_string()),
            other => ChainError::other(other),
        };
    };
    let message = answer.message().to_owned();
    let lower = message.to_lowercase();
    let has = |fragment: &str| lower.contains(fragment);
    // Code 3 is the EIP-1474 "execution reverted" code; its data is the revert data.
    if answer.code() == 3 || has("revert") {
        let data = answer
            .data()
            .and_then(|raw| serde_json::from_str::<Bytes>(raw.get()).ok())
            .unwrap_or_default();
        ChainError::Reverted {
            tx: None,
            reason: Some(message),
            data,
        }
    } else if has("already known") || has("known transaction") || has("already imported") {
        ChainError::AlreadyKnown
    } else if has("nonce too low") {
        ChainError::NonceTooLow(message)
    } else if has("insufficient funds") {
        ChainError::InsufficientFunds(message)
    } else if has("underpriced") || has("fee too low") || has("less than block base fee") {
        ChainError::Underpriced(message)
    } else if has("not found") || has("unknown block") {
        ChainError::NotFound(message)
    } else {
        ChainError::other(RpcError::Call(answer))
    }
}

/// A block id as the `eth_` methods take it (EIP-1898 for a hash).
fn block_param(id: BlockId) -> Value {
    match id {
        BlockId::Number(n) => json!(U64::from(n)),
        BlockId::Hash(hash) => json!({ "blockHash": hash }),
        BlockId::Tag(tag) => json!(tag.to_string()),
    }
}

fn call_object(call: &CallRequest) -> Value {
    let mut object = json!({ "to": call.to, "data": call.input, "value": call.value });
    if let Some(from) = call.from {
        object["from"] = json!(from);
    }
    if let Some(gas) = call.gas {
        object["gas"] = json!(U64::from(gas));
    }
    object
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcBlock {
    number: U64,
    hash: B256,
    parent_hash: B256,
    timestamp: U64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcLog {
    address: Address,
    topics: Vec<B256>,
    data: Bytes,
    block_number: U64,
    block_hash: B256,
    transaction_hash: B256,
    log_index: U64,
}

impl From<RpcLog> for Log {
    fn from(l: RpcLog) -> Self {
        Log {
            address: l.address,
            topics: l.topics,
            data: l.data,
            block_number: l.block_number.to(),
            block_hash: l.block_hash,
            tx_hash: l.transaction_hash,
            log_index: l.log_index.to(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcReceipt {
    transaction_hash: B256,
    status: U64,
    block_number: U64,
    block_hash: B256,
    gas_used: U64,
    effective_gas_price: U128,
    contract_address: Option<Address>,
    logs: Vec<RpcLog>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeeHistory {
    /// One per block asked for, then the next block's.
    base_fee_per_gas: Vec<U128>,
}

impl ChainReader for ExampleChain {
    fn chain_id(&self) -> ChainFuture<'_, u64> {
        Box::pin(async move { Ok(self.rpc::<U64>("eth_chainId", vec![]).await?.to()) })
    }

    fn block(&self, id: BlockId) -> ChainFuture<'_, Option<BlockRef>> {
        Box::pin(async move {
            let block: Option<RpcBlock> = match id {
                BlockId::Hash(hash) => {
                    self.rpc("eth_getBlockByHash", vec![json!(hash), json!(false)])
                }
                _ => self.rpc("eth_getBlockByNumber", vec![block_param(id), json!(false)]),
            }
            .await?;
            Ok(block.map(|b| BlockRef {
                number: b.number.to(),
                hash: b.hash,
                parent_hash: b.parent_hash,
                timestamp: b.timestamp.to(),
            }))
        })
    }

    fn logs(&self, filter: LogFilter) -> ChainFuture<'_, Vec<Log>> {
        Box::pin(async move {
            // An empty position is `null` (any topic); no addresses means any emitter.
            let topics: Vec<Value> = filter
                .topics
                .iter()
                .map(|t| if t.is_empty() { Value::Null } else { json!(t) })
                .collect();
            let mut query = json!({
                "fromBlock": U64::from(filter.from_block),
                "toBlock": U64::from(filter.to_block),
                "topics": topics,
            });
            if !filter.addresses.is_empty() {
                query["address"] = json!(filter.addresses);
            }
            let logs: Vec<RpcLog> = self.rpc("eth_getLogs", vec![query]).await?;
            Ok(logs.into_iter().map(Log::from).collect())
        })
    }

    fn call(&self, call: CallRequest, at: BlockId) -> ChainFuture<'_, Bytes> {
        Box::pin(async move {
            self.rpc("eth_call", vec![call_object(&call), block_param(at)])
                .await
        })
    }

    fn receipt(&self, tx: B256) -> ChainFuture<'_, Option<Receipt>> {
        Box::pin(async move {
            let receipt: Option<RpcReceipt> = self
                .rpc("eth_getTransactionReceipt", vec![json!(tx)])
                .await?;
            Ok(receipt.map(|r| Receipt {
                tx_hash: r.transaction_hash,
                success: r.status == U64::from(1),
                block_number: r.block_number.to(),
                block_hash: r.block_hash,
                gas_used: r.gas_used.to(),
                effective_gas_price: r.effective_gas_price.to(),
                contract_address: r.contract_address,
                logs: r.logs.into_iter().map(Log::from).collect(),
            }))
        })
    }

    fn nonce(&self, account: Address, at: BlockId) -> ChainFuture<'_, u64> {
        Box::pin(async move {
            let params = vec![json!(account), block_param(at)];
            Ok(self
                .rpc::<U64>("eth_getTransactionCount", params)
                .await?
                .to())
        })
    }

    fn balance(&self, account: Address, at: BlockId) -> ChainFuture<'_, U256> {
        Box::pin(async move {
            self.rpc("eth_getBalance", vec![json!(account), block_param(at)])
                .await
        })
    }
}

impl ChainFees for ExampleChain {
    /// Two calls: the next block's base fee from `eth_feeHistory`, the tip from
    /// `eth_maxPriorityFeePerGas`; the max fee leaves room for the base fee to double.
    fn estimate_fees(&self) -> ChainFuture<'_, FeeEstimate> {
        Box::pin(async move {
            let history: FeeHistory = self
                .rpc(
                    "eth_feeHistory",
                    vec![json!("0x1"), json!("latest"), json!([])],
                )
                .await?;
            let base_fee_per_gas: u128 = history
                .base_fee_per_gas
                .last()
                .ok_or_else(|| ChainError::NotFound("a base fee in eth_feeHistory".into()))?
                .to();
            let tip: U128 = self.rpc("eth_maxPriorityFeePerGas", vec![]).await?;
            let max_priority_fee_per_gas = tip.to();
            Ok(FeeEstimate {
                base_fee_per_gas,
                max_fee_per_gas: 2 * base_fee_per_gas + max_priority_fee_per_gas,
                max_priority_fee_per_gas,
            })
        })
    }

    fn estimate_gas(&self, call: CallRequest) -> ChainFuture<'_, u64> {
        Box::pin(async move {
            Ok(self
                .rpc::<U64>("eth_estimateGas", vec![call_object(&call)])
                .await?
                .to())
        })
    }
}

impl ChainSender for ExampleChain {
    fn send_raw(&self, signed: Bytes) -> ChainFuture<'_, B256> {
        Box::pin(async move {
            let hash = keccak256(&signed);
            match self
                .rpc("eth_sendRawTransaction", vec![json!(signed)])
                .await
            {
                // Nodes answer "nonce too low" to the very transaction they already mined;
                // the trait wants sending the same bytes twice to be harmless.
                Err(ChainError::NonceTooLow(message)) => {
                    let known: Option<Value> = self
                        .rpc("eth_getTransactionByHash", vec![json!(hash)])
                        .await?;
                    Err(match known {
                        Some(_) => ChainError::AlreadyKnown,
                        None => ChainError::NonceTooLow(message),
                    })
                }
                answer => answer,
            }
        })
    }

    /// A receipt means mined; otherwise a transaction the node still has is pending. Plain
    /// JSON-RPC cannot tell a dropped transaction from one never sent: both are `Unknown`.
    fn tx_status(&self, tx: B256) -> ChainFuture<'_, TxStatus> {
        Box::pin(async move {
            if let Some(r) = self.receipt(tx).await? {
                return Ok(TxStatus::Mined {
                    block_number: r.block_number,
                    block_hash: r.block_hash,
                    success: r.success,
                });
            }
            let known: Option<Value> = self
                .rpc("eth_getTransactionByHash", vec![json!(tx)])
                .await?;
            Ok(known.map_or(TxStatus::Unknown, |_| TxStatus::Pending))
        })
    }
}

impl Chain for ExampleChain {
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }
}

/// Builds an [`ExampleChain`] from its `[chains.NAME]` section: one key, `url`, required.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExampleFactory;

impl ChainFactory for ExampleFactory {
    fn build(
        &self,
        _spec: &ChainSpec,
        section: &mut PluginSection,
    ) -> std::result::Result<Arc<dyn Chain>, ConfigError> {
        let url: String = section.require("url")?;
        if !url.starts_with("http://") {
            return Err(section.invalid("url", format!("`{url}` is not an http:// URL")));
        }
        let chain = ExampleChain::connect(&url).map_err(|e| section.invalid("url", e))?;
        Ok(Arc::new(chain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonrpsee_http_client::types::ErrorObject;
    use manyfold_chain::{BlockTag, ChainRegistry};

    fn answer(code: i32, message: &str, data: Option<&str>) -> ChainError {
        map_error(RpcError::Call(ErrorObject::owned(code, message, data)))
    }

    #[test]
    fn node_errors_map_onto_the_shared_ones() {
        let e = answer(3, "execution reverted: no", Some("0xdeadbeef"));
        assert!(
            matches!(&e, ChainError::Reverted { tx: None, data, reason: Some(r) }
                if data.as_ref() == [0xde, 0xad, 0xbe, 0xef] && r == "execution reverted: no"),
            "{e:?}"
        );
        let e = answer(-32000, "execution reverted", None);
        assert!(
            matches!(&e, ChainError::Reverted { data, .. } if data.is_empty()),
            "{e:?}"
        );
        let cases = [
            ("already known", "AlreadyKnown"),
            ("known transaction: 0xab", "AlreadyKnown"),
            ("nonce too low: next nonce 4, tx nonce 3", "NonceTooLow"),
            (
                "Insufficient funds for gas * price + value",
                "InsufficientFunds",
            ),
            ("replacement transaction underpriced", "Underpriced"),
            ("max fee per gas less than block base fee", "Underpriced"),
            ("transaction fee too low", "Underpriced"),
            ("header not found", "NotFound"),
            ("the method eth_foo does not exist", "Other"),
        ];
        for (message, variant) in cases {
            let debug = format!("{:?}", answer(-32000, message, None));
            assert!(debug.starts_with(variant), "{message} mapped to {debug}");
        }
        assert!(matches!(
            map_error(RpcError::RequestTimeout),
            ChainError::Timeout(_)
        ));
    }

    #[test]
    fn block_ids_are_written_as_the_eth_methods_take_them() {
        assert_eq!(block_param(BlockId::Number(255)), json!("0xff"));
        assert_eq!(block_param(BlockTag::Finalized.into()), json!("finalized"));
        assert_eq!(
            block_param(BlockId::Hash(B256::repeat_byte(1))),
            json!({ "blockHash": B256::repeat_byte(1) })
        );
        let call = CallRequest {
            gas: Some(16),
            ..CallRequest::new(Address::ZERO, vec![1])
        };
        assert_eq!(
            call_object(&call),
            json!({ "to": Address::ZERO, "data": "0x01", "value": "0x0", "gas": "0x10" })
        );
    }

    #[test]
    fn the_factory_takes_its_url_and_refuses_anything_else() {
        let mut registry = ChainRegistry::new();
        registry.register(KIND, ExampleFactory).unwrap();
        let build = |section: Value| {
            let spec = ChainSpec::parse("devnet", &section).unwrap();
            registry.build(&spec).map(|b| b.chain.capabilities())
        };
        let ok = build(json!({"kind": "example", "id": 0, "url": "http://127.0.0.1:1"}));
        assert_eq!(ok.unwrap(), Capabilities::NONE);
        let text = |section| build(section).unwrap_err().to_string();
        assert_eq!(
            text(json!({"kind": "example", "id": 0})),
            "chains.devnet: missing key `url`"
        );
        assert_eq!(
            text(json!({"kind": "example", "id": 0, "url": "ftp://x"})),
            "chains.devnet.url: `ftp://x` is not an http:// URL"
        );
        let t = text(json!({"kind": "example", "id": 0, "url": "http://x", "rpc_url": "y"}));
        assert!(
            t.starts_with(
                "chains.devnet: unknown key `rpc_url` for kind `example`; it takes `url`"
            ),
            "{t}"
        );
    }
}
