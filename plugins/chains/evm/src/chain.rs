//! [`EvmChain`]: the chain traits over an Ethereum JSON-RPC endpoint.

use std::future::Future;

use alloy_network::Ethereum;
use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use alloy_provider::{Provider, RootProvider};
use alloy_rpc_types_eth::{
    Block as RpcBlock, BlockId as RpcBlockId, BlockNumberOrTag, Filter, Log as RpcLog,
    TransactionInput, TransactionReceipt, TransactionRequest,
};
use alloy_transport::TransportResult;
use manyfold_chain::{
    BlockId, BlockRef, BlockTag, CallRequest, Capabilities, Chain, ChainError, ChainFees,
    ChainFuture, ChainReader, ChainSender, FeeEstimate, Log, LogFilter, Receipt, Result, TxStatus,
};

use crate::config::EvmConfig;
use crate::errors::{Failure, RpcFailure};
use crate::health::Health;

/// Why an [`EvmChain`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvmError {
    /// The endpoint serves another chain than the configured one.
    #[error("chain {chain}: the endpoint {url} serves EVM chain id {actual}, the config says {expected}")]
    WrongChainId {
        /// The chain's name.
        chain: String,
        /// The endpoint (credentials in it are not shown: see [`redacted`]).
        url: String,
        /// The configured id.
        expected: u64,
        /// The endpoint's.
        actual: u64,
    },
    /// The endpoint did not tell its chain id (down, or not an Ethereum endpoint).
    #[error("chain {chain}: cannot read the chain id of {url}: {source}")]
    Unreachable {
        /// The chain's name.
        chain: String,
        /// The endpoint.
        url: String,
        /// What failed.
        source: ChainError,
    },
    /// The config declares `verifies_proofs`, but the chain does not answer as the
    /// verifier precompile does.
    #[error("chain {chain}: `verifies_proofs = true`, but {url} has no Manyfold verifier precompile at {VERIFIER_PRECOMPILE}: {reason} (the primary must be a chain with it, such as `manyfold chain`; see DESIGN §10)")]
    NoVerifier {
        /// The chain's name.
        chain: String,
        /// The endpoint.
        url: String,
        /// What it answered instead.
        reason: String,
    },
}

/// Where a chain that verifies Manyfold's proofs has its verifier precompile
/// (`manyfold_contracts::verifier::VERIFIER_PRECOMPILE`, `0x…F01D`; spelled out here
/// because a plugin sees only the chain trait crate).
pub const VERIFIER_PRECOMPILE: Address = Address::new([
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x1d,
]);

/// An endpoint's URL without user, password, path or query, which may hold API keys.
pub fn redacted(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// Any EVM chain behind an Ethereum JSON-RPC endpoint (plain HTTP; HTTPS with the `tls`
/// feature), as a [`Chain`].
///
/// Every request has a timeout and is retried with exponential backoff when the failure
/// is worth a retry (transport errors, timeouts, rate limits); endpoint errors map onto
/// [`ChainError`] variants (see the README). Log queries are split into ranges of at most
/// [`EvmConfig::max_log_range`] blocks, halved further when the endpoint refuses a range
/// for its size. An unreachable endpoint sets the gauge `manyfold_chain_up{chain}` to 0
/// and is reported with a warning at most every 30 s; nothing here panics on an endpoint's
/// answer.
///
/// It is a secondary ([`Capabilities::NONE`]) unless its config declares
/// `verifies_proofs` ([`EvmChain::check_verifier`] checks the declaration).
///
/// Needs a Tokio runtime (with timers) to run its futures.
pub struct EvmChain {
    config: EvmConfig,
    provider: RootProvider<Ethereum>,
    health: Health,
}

impl std::fmt::Debug for EvmChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvmChain")
            .field("chain", &self.config.name)
            .field("url", &redacted(&self.config.url))
            .field("up", &self.health.is_up())
            .finish_non_exhaustive()
    }
}

impl EvmChain {
    /// Connects to `config.url` and checks that it serves `config.chain_id` (when set).
    pub async fn connect(config: EvmConfig) -> std::result::Result<Self, EvmError> {
        let chain = Self::new(config);
        chain.check_chain_id().await?;
        Ok(chain)
    }

    /// The chain, without asking the endpoint anything yet.
    pub(crate) fn new(config: EvmConfig) -> Self {
        // Not `new_http`: alloy's transport logs and errors carry the full URL (see
        // `transport`).
        let transport = crate::transport::HttpTransport::new(config.url.clone());
        let is_local = alloy_transport::utils::guess_local_url(config.url.as_str());
        let provider =
            RootProvider::<Ethereum>::new(alloy_rpc_client::RpcClient::new(transport, is_local));
        let health = Health::new(&config.name);
        Self {
            config,
            provider,
            health,
        }
    }

    /// Reads the endpoint's chain id and compares it with the configured one; returns it.
    pub async fn check_chain_id(&self) -> std::result::Result<u64, EvmError> {
        let url = redacted(&self.config.url);
        let actual = self
            .chain_id()
            .await
            .map_err(|source| EvmError::Unreachable {
                chain: self.config.name.clone(),
                url: url.clone(),
                source,
            })?;
        match self.config.chain_id {
            Some(expected) if expected != actual => Err(EvmError::WrongChainId {
                chain: self.config.name.clone(),
                url,
                expected,
                actual,
            }),
            Some(_) => Ok(actual),
            None => {
                tracing::info!(
                    chain = %self.config.name, %url, chain_id = actual,
                    "no chain_id configured; using the endpoint's"
                );
                Ok(actual)
            }
        }
    }

    /// Checks that the chain has the verifier precompile, as `verifies_proofs` declares.
    ///
    /// What is checked is the precompile's documented behaviour (`manyfold-precompile`):
    /// a precompile has no code, and it answers every input, a malformed one included, with
    /// exactly one 32-byte word, 0 for a refusal. An input that is not the canonical
    /// encoding of a statement (here: none at all) must be answered with the word 0. A chain
    /// without the precompile answers a call of a code-less address with no data, and an
    /// address holding a contract has code. (A valid proof cannot be checked here without
    /// the verifying key: `PrecompileVerifier` pins the key, and the node compares its
    /// digest with the deployment's.)
    pub async fn check_verifier(&self) -> std::result::Result<(), EvmError> {
        let refuse = |reason: String| EvmError::NoVerifier {
            chain: self.config.name.clone(),
            url: redacted(&self.config.url),
            reason,
        };
        let unreachable = |source: ChainError| EvmError::Unreachable {
            chain: self.config.name.clone(),
            url: redacted(&self.config.url),
            source,
        };
        let code = self
            .rpc("eth_getCode", || async {
                self.provider.get_code_at(VERIFIER_PRECOMPILE).await
            })
            .await
            .map_err(unreachable)?;
        if !code.is_empty() {
            return Err(refuse(format!(
                "a contract ({} bytes of code) is deployed there",
                code.len()
            )));
        }
        let answer = self
            .call(
                CallRequest::new(VERIFIER_PRECOMPILE, Bytes::new()),
                BlockId::Tag(BlockTag::Latest),
            )
            .await;
        match answer {
            Ok(word) if word.len() == 32 && word.iter().all(|b| *b == 0) => Ok(()),
            Ok(other) if other.is_empty() => Err(refuse("a call there answers no data".into())),
            Ok(other) => Err(refuse(format!(
                "a call with no input answers {other}, not the word 0"
            ))),
            Err(e @ ChainError::Reverted { .. }) => Err(refuse(format!("a call there fails: {e}"))),
            Err(e) => Err(unreachable(e)),
        }
    }

    /// The input (calldata) of transaction `hash`, `None` when the endpoint does not know
    /// it. Exodus reads the settlement calls back from the chain with it: with the
    /// operator gone, the chain is the only copy of what blocks held.
    pub async fn transaction_input(&self, hash: B256) -> Result<Option<Bytes>> {
        let tx: Option<serde_json::Value> = self
            .rpc("eth_getTransactionByHash", || {
                self.provider
                    .raw_request("eth_getTransactionByHash".into(), (hash,))
            })
            .await?;
        let Some(tx) = tx else { return Ok(None) };
        let input = tx
            .get("input")
            .or_else(|| tx.get("data"))
            .and_then(|v| v.as_str())
            .ok_or_else(|| broken("eth_getTransactionByHash", "the transaction's input"))?;
        input
            .parse::<Bytes>()
            .map(Some)
            .map_err(|_| broken("eth_getTransactionByHash", "hex input"))
    }

    /// Its configuration.
    pub fn config(&self) -> &EvmConfig {
        &self.config
    }

    /// Whether the endpoint answered the last request (the `manyfold_chain_up` gauge).
    pub fn is_up(&self) -> bool {
        self.health.is_up()
    }

    /// Sends `f()` with the request timeout, retrying what is worth a retry with backoff.
    /// With `range_sensitive`, a "range too large" answer is returned at once, for the
    /// caller to split the range.
    async fn request<T, F, Fut>(
        &self,
        method: &'static str,
        range_sensitive: bool,
        f: F,
    ) -> std::result::Result<T, Failure>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = TransportResult<T>>,
    {
        let timeout = self.config.request_timeout;
        let mut retry = 0;
        loop {
            let failure = match tokio::time::timeout(timeout, f()).await {
                Ok(Ok(value)) => {
                    self.health.answered();
                    return Ok(value);
                }
                Ok(Err(error)) => Failure::Rpc(error),
                Err(_) => Failure::Timeout(timeout),
            };
            if !failure.is_unreachable() {
                // An error answer is still an answer: the endpoint is up.
                self.health.answered();
            }
            let split_instead = range_sensitive && failure.is_range_too_large();
            if !split_instead && failure.is_retryable() && retry < self.config.max_retries {
                let delay = self.config.backoff(retry);
                retry += 1;
                self.health.retried(method);
                tracing::debug!(
                    chain = %self.config.name, method, retry, ?delay,
                    failure = %failure.describe(&self.config.url),
                    "request failed; retrying"
                );
                tokio::time::sleep(delay).await;
                continue;
            }
            return Err(failure);
        }
    }

    /// [`EvmChain::request`], mapped onto [`ChainError`] and counted.
    async fn rpc<T, F, Fut>(&self, method: &'static str, f: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = TransportResult<T>>,
    {
        self.request(method, false, f)
            .await
            .map_err(|failure| self.fail(method, failure))
    }

    fn fail(&self, method: &'static str, failure: Failure) -> ChainError {
        let unreachable = failure.is_unreachable();
        let error = failure.into_chain_error(method, &self.config.url);
        self.health.failed(method, &error);
        if unreachable {
            self.health.unreachable(method, &error);
        }
        error
    }

    /// The logs of one range, split further while the endpoint refuses it for its size.
    async fn logs_split(&self, filter: &LogFilter) -> Result<Vec<Log>> {
        let mut out = Vec::new();
        let mut from = filter.from_block;
        let mut span = self.config.max_log_range.max(1);
        while from <= filter.to_block {
            let to = filter.to_block.min(from.saturating_add(span - 1));
            let rpc_filter = to_rpc_filter(filter, from, to);
            match self
                .request("eth_getLogs", true, || self.provider.get_logs(&rpc_filter))
                .await
            {
                Ok(logs) => {
                    for log in logs {
                        out.push(from_rpc_log(log)?);
                    }
                    // The range may end at the last height: nothing follows it.
                    match to.checked_add(1) {
                        Some(next) => from = next,
                        None => break,
                    }
                }
                Err(failure) if failure.is_range_too_large() && to > from => {
                    // Half the refused width (`to - from + 1`), rounded down; at least 1.
                    span = (to - from).div_ceil(2);
                    self.health.log_range_split();
                    tracing::debug!(
                        chain = %self.config.name, from, to, span,
                        failure = %failure.describe(&self.config.url),
                        "the endpoint refused a log range for its size; halving it"
                    );
                }
                Err(failure) => return Err(self.fail("eth_getLogs", failure)),
            }
        }
        out.sort_by_key(|log| (log.block_number, log.log_index));
        Ok(out)
    }
}

fn to_rpc_block(id: BlockId) -> RpcBlockId {
    match id {
        BlockId::Number(n) => RpcBlockId::number(n),
        BlockId::Hash(h) => RpcBlockId::hash(h),
        BlockId::Tag(BlockTag::Latest) => RpcBlockId::latest(),
        BlockId::Tag(BlockTag::Safe) => RpcBlockId::safe(),
        BlockId::Tag(BlockTag::Finalized) => RpcBlockId::finalized(),
    }
}

fn to_rpc_filter(filter: &LogFilter, from: u64, to: u64) -> Filter {
    let mut rpc = Filter::new()
        .from_block(BlockNumberOrTag::Number(from))
        .to_block(BlockNumberOrTag::Number(to));
    if !filter.addresses.is_empty() {
        rpc = rpc.address(filter.addresses.clone());
    }
    for (slot, topics) in rpc.topics.iter_mut().zip(&filter.topics) {
        if !topics.is_empty() {
            *slot = topics.clone().into();
        }
    }
    rpc
}

fn broken(method: &str, what: &str) -> ChainError {
    ChainError::other(RpcFailure {
        method: method.to_owned(),
        message: format!("the endpoint's answer lacks {what}"),
    })
}

fn from_rpc_log(log: RpcLog) -> Result<Log> {
    let missing = |what| broken("eth_getLogs", what);
    Ok(Log {
        address: log.address(),
        topics: log.topics().to_vec(),
        block_number: log.block_number.ok_or_else(|| missing("a block number"))?,
        block_hash: log.block_hash.ok_or_else(|| missing("a block hash"))?,
        tx_hash: log
            .transaction_hash
            .ok_or_else(|| missing("a transaction hash"))?,
        log_index: log.log_index.ok_or_else(|| missing("a log index"))?,
        data: log.inner.data.data,
    })
}

fn from_rpc_block(block: &RpcBlock) -> BlockRef {
    BlockRef {
        number: block.header.inner.number,
        hash: block.header.hash,
        parent_hash: block.header.inner.parent_hash,
        timestamp: block.header.inner.timestamp,
    }
}

fn from_rpc_receipt(receipt: TransactionReceipt) -> Result<Option<Receipt>> {
    // A receipt without a block is a pending one (some nodes answer so): not mined yet.
    let (Some(block_number), Some(block_hash)) = (receipt.block_number, receipt.block_hash) else {
        return Ok(None);
    };
    let logs = receipt
        .inner
        .logs()
        .iter()
        .cloned()
        .map(from_rpc_log)
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Receipt {
        tx_hash: receipt.transaction_hash,
        success: receipt.status(),
        block_number,
        block_hash,
        gas_used: receipt.gas_used,
        effective_gas_price: receipt.effective_gas_price,
        contract_address: receipt.contract_address,
        logs,
    }))
}

fn to_rpc_call(call: &CallRequest) -> TransactionRequest {
    let mut tx = TransactionRequest::default()
        .to(call.to)
        .input(TransactionInput::new(call.input.clone()))
        .value(call.value);
    if let Some(from) = call.from {
        tx = tx.from(from);
    }
    if let Some(gas) = call.gas {
        tx = tx.gas_limit(gas);
    }
    tx
}

impl ChainReader for EvmChain {
    fn chain_id(&self) -> ChainFuture<'_, u64> {
        Box::pin(self.rpc("eth_chainId", || self.provider.get_chain_id()))
    }

    fn block(&self, id: BlockId) -> ChainFuture<'_, Option<BlockRef>> {
        Box::pin(async move {
            let rpc_id = to_rpc_block(id);
            let block = self
                .rpc("eth_getBlockBy", || async move {
                    self.provider.get_block(rpc_id).await
                })
                .await;
            match block {
                Ok(block) => Ok(block.as_ref().map(from_rpc_block)),
                // A tag the chain has no block for yet (a fresh chain's `finalized`).
                Err(ChainError::NotFound(_)) if matches!(id, BlockId::Tag(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn logs(&self, filter: LogFilter) -> ChainFuture<'_, Vec<Log>> {
        Box::pin(async move {
            if filter.from_block > filter.to_block {
                return Ok(Vec::new());
            }
            self.logs_split(&filter).await
        })
    }

    fn call(&self, call: CallRequest, at: BlockId) -> ChainFuture<'_, Bytes> {
        Box::pin(async move {
            let tx = to_rpc_call(&call);
            let at = to_rpc_block(at);
            self.rpc("eth_call", || {
                let tx = tx.clone();
                async move { self.provider.call(tx).block(at).await }
            })
            .await
        })
    }

    fn receipt(&self, tx: B256) -> ChainFuture<'_, Option<Receipt>> {
        Box::pin(async move {
            let receipt = self
                .rpc("eth_getTransactionReceipt", || {
                    self.provider.get_transaction_receipt(tx)
                })
                .await?;
            match receipt {
                Some(receipt) => from_rpc_receipt(receipt),
                None => Ok(None),
            }
        })
    }

    fn nonce(&self, account: Address, at: BlockId) -> ChainFuture<'_, u64> {
        Box::pin(async move {
            let at = to_rpc_block(at);
            self.rpc("eth_getTransactionCount", || async move {
                self.provider
                    .get_transaction_count(account)
                    .block_id(at)
                    .await
            })
            .await
        })
    }

    fn balance(&self, account: Address, at: BlockId) -> ChainFuture<'_, U256> {
        Box::pin(async move {
            let at = to_rpc_block(at);
            self.rpc("eth_getBalance", || async move {
                self.provider.get_balance(account).block_id(at).await
            })
            .await
        })
    }
}

impl ChainFees for EvmChain {
    fn estimate_fees(&self) -> ChainFuture<'_, FeeEstimate> {
        Box::pin(async move {
            let history = self
                .rpc("eth_feeHistory", || {
                    self.provider
                        .get_fee_history(1, BlockNumberOrTag::Latest, &[])
                })
                .await?;
            let base_fee_per_gas = history
                .next_block_base_fee()
                .ok_or_else(|| broken("eth_feeHistory", "the next block's base fee"))?;
            let tip = match self
                .rpc("eth_maxPriorityFeePerGas", || {
                    self.provider.get_max_priority_fee_per_gas()
                })
                .await
            {
                Ok(tip) => tip,
                // Endpoints without the method: what the legacy gas price pays above the
                // base fee.
                Err(ChainError::Unsupported(_)) => self
                    .rpc("eth_gasPrice", || self.provider.get_gas_price())
                    .await?
                    .saturating_sub(base_fee_per_gas),
                Err(e) => return Err(e),
            };
            // Twice the base fee: room for six full blocks of base-fee rises (12.5% each)
            // before the transaction stops being includable.
            Ok(FeeEstimate {
                base_fee_per_gas,
                max_fee_per_gas: base_fee_per_gas.saturating_mul(2).saturating_add(tip),
                max_priority_fee_per_gas: tip,
            })
        })
    }

    fn estimate_gas(&self, call: CallRequest) -> ChainFuture<'_, u64> {
        Box::pin(async move {
            let tx = to_rpc_call(&call);
            self.rpc("eth_estimateGas", || {
                let tx = tx.clone();
                async move { self.provider.estimate_gas(tx).await }
            })
            .await
        })
    }
}

impl ChainSender for EvmChain {
    fn send_raw(&self, signed: Bytes) -> ChainFuture<'_, B256> {
        Box::pin(async move {
            // Retrying a send is safe: the same bytes are the same transaction, and a node
            // that got the first try answers "already known".
            let sent = self
                .rpc("eth_sendRawTransaction", || async {
                    self.provider
                        .send_raw_transaction(&signed)
                        .await
                        .map(|pending| *pending.tx_hash())
                })
                .await;
            match sent {
                // Nodes answer "nonce too low" to the bytes of a transaction they already
                // mined. If it is this very transaction, the send is the harmless repeat
                // the trait promises: already known. (The EIP-2718 hash of any
                // transaction is the keccak of its encoded bytes.)
                Err(ChainError::NonceTooLow(message)) => {
                    let hash = keccak256(&signed);
                    let known = self
                        .rpc("eth_getTransactionByHash", || {
                            self.provider.get_transaction_by_hash(hash)
                        })
                        .await?;
                    match known {
                        Some(_) => Err(ChainError::AlreadyKnown),
                        None => Err(ChainError::NonceTooLow(message)),
                    }
                }
                other => other,
            }
        })
    }

    fn tx_status(&self, tx: B256) -> ChainFuture<'_, TxStatus> {
        Box::pin(async move {
            if let Some(receipt) = self.receipt(tx).await? {
                return Ok(TxStatus::Mined {
                    block_number: receipt.block_number,
                    block_hash: receipt.block_hash,
                    success: receipt.success,
                });
            }
            let known = self
                .rpc("eth_getTransactionByHash", || {
                    self.provider.get_transaction_by_hash(tx)
                })
                .await?;
            // JSON-RPC cannot tell "dropped" from "never seen": both are unknown.
            Ok(match known {
                Some(_) => TxStatus::Pending,
                None => TxStatus::Unknown,
            })
        })
    }
}

impl Chain for EvmChain {
    /// [`Capabilities::NONE`] unless the config declares `verifies_proofs` (which the
    /// factory checks against the chain before the node sees it).
    fn capabilities(&self) -> Capabilities {
        if self.config.verifies_proofs {
            Capabilities::NONE.with_proof_verification()
        } else {
            Capabilities::NONE
        }
    }
}
