//! The server: the API implementation over the node's components, and its start-up.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use alloy_primitives::{Bytes, B256};
use jsonrpsee::core::{async_trait, RpcResult, SubscriptionResult};
use jsonrpsee::server::{
    BatchRequestConfig, PendingSubscriptionSink, Server, ServerConfig, ServerHandle,
};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::RpcModule;
use manyfold_block_builder::{BlockBuilderHandle, BlockStore, NewBlock};
use manyfold_mempool::MempoolHandle;
use manyfold_settler::{Stage as SettlerStage, StageChange, StageEvents, StageStore};
use manyfold_state::{L2State, SharedState};
use manyfold_types::block::fr_to_b256;
use manyfold_types::{Block, L2Tx, PriorityOp, Receipt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use crate::api::*;
use crate::errors::{codes, error, from_mempool};

/// The OpenRPC description of this API, served by `rpc.discover`.
pub const OPENRPC_DOCUMENT: &str = include_str!("../openrpc.json");

/// Listening address and limits of the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcConfig {
    /// Address for HTTP and WebSocket.
    pub addr: SocketAddr,
    /// Largest request body, bytes.
    pub max_request_bytes: u32,
    /// Largest response body, bytes.
    pub max_response_bytes: u32,
    /// Most calls in one batch request.
    pub max_batch_len: u32,
    /// Most simultaneous connections.
    pub max_connections: u32,
    /// Most subscriptions one WebSocket connection may hold.
    pub max_subscriptions_per_connection: u32,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8545".parse().expect("valid address"),
            max_request_bytes: 256 * 1024,
            max_response_bytes: 8 * 1024 * 1024,
            max_batch_len: 64,
            max_connections: 256,
            max_subscriptions_per_connection: 64,
        }
    }
}

/// What the API serves from.
#[derive(Clone)]
pub struct RpcContext {
    /// Where transactions go.
    pub mempool: MempoolHandle,
    /// The current state (read only).
    pub state: SharedState,
    /// Sealed blocks and receipts.
    pub blocks: BlockStore,
    /// Announcements of sealed blocks.
    pub builder: BlockBuilderHandle,
    /// The configured chains.
    pub chains: Vec<ChainInfo>,
    /// Whether `manyfold_submitPriorityOp` is enabled (devnet).
    pub allow_priority_injection: bool,
    /// The stages each block reached on each chain, as the settlement actors recorded
    /// them. `None` when the node settles nowhere: every block stays `sealed`.
    pub stages: Option<StageStore>,
    /// Where the settlement actors announce each stage once it is recorded, for
    /// `manyfold_subscribeStatus`. `None` when the node settles nowhere.
    pub stage_events: Option<StageEvents>,
    /// The chains whose settlement is held, and why. `None` when the node settles nowhere.
    pub holds: Option<manyfold_settler::HoldStore>,
    /// The state replayed to the primary's last executed block, for exit proofs.
    pub exit_replica: ExitReplica,
}

/// A replica of the state at the primary's last executed block, advanced as the primary
/// executes (exit proofs are against that root, not the node's current one).
#[derive(Clone, Default)]
pub struct ExitReplica(Arc<std::sync::Mutex<Option<(u32, L2State)>>>);

impl std::fmt::Debug for ExitReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExitReplica")
    }
}

/// A running server.
pub struct RpcHandle {
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    handle: ServerHandle,
}

impl RpcHandle {
    /// Stops accepting connections and waits until the server has shut down.
    pub async fn stop(self) {
        let _ = self.handle.stop();
        self.handle.stopped().await;
    }
}

/// Starts the server with `config`'s limits.
pub async fn start(config: &RpcConfig, context: RpcContext) -> std::io::Result<RpcHandle> {
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.max_request_bytes)
        .max_response_body_size(config.max_response_bytes)
        .max_connections(config.max_connections)
        .max_subscriptions_per_connection(config.max_subscriptions_per_connection)
        .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch_len))
        .build();
    let server = Server::builder()
        .set_config(server_config)
        .build(config.addr)
        .await?;
    let local_addr = server.local_addr()?;
    let handle = server.start(module(context));
    tracing::info!(%local_addr, "JSON-RPC listening (HTTP and WebSocket)");
    Ok(RpcHandle { local_addr, handle })
}

/// Every method the server serves.
pub fn module(context: RpcContext) -> RpcModule<()> {
    let mut module = RpcModule::new(());
    module
        .merge(ManyfoldApiServer::into_rpc(context))
        .expect("method names are unique");
    module
        .register_method("rpc.discover", |_, _, _| {
            serde_json::from_str::<serde_json::Value>(OPENRPC_DOCUMENT)
                .expect("openrpc.json is valid JSON")
        })
        .expect("rpc.discover is registered once");
    module
}

fn count(method: &'static str, started: Instant, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    metrics::counter!("manyfold_rpc_requests_total", "method" => method, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("manyfold_rpc_request_seconds", "method" => method)
        .record(started.elapsed().as_secs_f64());
}

fn unavailable(e: impl std::fmt::Display) -> jsonrpsee::types::ErrorObjectOwned {
    error(codes::UNAVAILABLE, e.to_string())
}

impl RpcContext {
    async fn submit(&self, tx: L2Tx) -> RpcResult<B256> {
        let started = Instant::now();
        let result = self.mempool.submit(tx).await.map_err(from_mempool);
        count("sendTransaction", started, result.is_ok());
        result
    }

    fn resolve(&self, tag: BlockTag) -> RpcResult<u32> {
        match tag {
            BlockTag::Latest => self.blocks.height().map_err(unavailable),
            BlockTag::Number(n) => Ok(n),
        }
    }

    /// Block `n`'s stages on every configured chain; `None` if it is not sealed.
    fn settlement_status(&self, n: u32) -> RpcResult<Option<SettlementStatus>> {
        let Some(block) = self.blocks.block(n).map_err(unavailable)? else {
            return Ok(None);
        };
        let mut reached = match &self.stages {
            Some(stages) => stages.block(n).map_err(unavailable)?,
            None => BTreeMap::new(),
        };
        let holds: BTreeMap<_, _> = match &self.holds {
            Some(holds) => holds.all().map_err(unavailable)?.into_iter().collect(),
            None => BTreeMap::new(),
        };
        let chains = self
            .chains
            .iter()
            .map(|c| {
                let stages: Vec<StageReached> = reached
                    .remove(&c.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(StageReached::from)
                    .collect();
                // Stages are recorded only in their order, so the last is the furthest.
                let stage = stages.last().map_or(Stage::Sealed, |s| s.stage);
                // A secondary settles only the blocks with its ops: a hold there says nothing
                // of a block it never receives (the primary's hold covers every block).
                let settles_here = c.primary
                    || block.ops.iter().any(|op| {
                        manyfold_types::pubdata::OpPubdata::decode(&op.pubdata)
                            .is_ok_and(|p| p.onchain_for() == Some(c.id))
                    });
                let held = holds
                    .get(&c.id)
                    .filter(|h| settles_here && h.holds(n) && stage != Stage::Executed)
                    .cloned()
                    .map(Held::from);
                ChainStage {
                    chain: c.id,
                    primary: c.primary,
                    stage,
                    stages,
                    held,
                }
            })
            .collect();
        Ok(Some(SettlementStatus {
            number: block.number,
            hash: block.hash(),
            chains,
        }))
    }

    fn transaction_status(&self, hash: B256) -> RpcResult<Option<TransactionStatus>> {
        let Some(receipt) = self.blocks.receipt(&hash).map_err(unavailable)? else {
            return Ok(None);
        };
        // A receipt is committed with its block, so a missing block is a damaged store.
        let settlement = self
            .settlement_status(receipt.block_number)?
            .ok_or_else(|| {
                unavailable(format!(
                    "transaction {hash} has a receipt in block {}, which is missing",
                    receipt.block_number
                ))
            })?;
        Ok(Some(TransactionStatus {
            receipt,
            settlement,
        }))
    }

    fn account_view(&self, account: AccountRef, with_proof: bool) -> Option<AccountView> {
        let state = self.state.read().expect("state lock poisoned");
        account_view_of(&state, account, with_proof)
    }

    /// The state at the primary's last executed block (replayed from the sealed blocks,
    /// from where the replica stood), and that block.
    fn exit_view(&self, account: AccountRef) -> Result<Option<ExitProofView>, ErrorObjectOwned> {
        let (Some(stages), Some(primary)) = (&self.stages, self.chains.iter().find(|c| c.primary))
        else {
            return Err(unavailable(
                "the node settles on no chain: there is no executed root",
            ));
        };
        let height = self.blocks.height().map_err(unavailable)?;
        let Some(executed) = stages
            .newest_at(primary.id, SettlerStage::Executed, height + 1, height + 1)
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let chains = self
            .state
            .read()
            .expect("state lock poisoned")
            .chains()
            .clone();
        let mut replica = self
            .exit_replica
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (mut at, mut state) = match replica.take() {
            Some((at, state)) if at <= executed => (at, state),
            _ => (0, L2State::new(chains)),
        };
        while at < executed {
            let ops = self
                .blocks
                .block_ops(at + 1)
                .map_err(unavailable)?
                .ok_or_else(|| unavailable(format!("block {} is missing", at + 1)))?;
            for op in &ops {
                state
                    .apply(op)
                    .map_err(|e| unavailable(format!("replaying block {}: {e}", at + 1)))?;
            }
            at += 1;
        }
        let block = self
            .blocks
            .block(executed)
            .map_err(unavailable)?
            .ok_or_else(|| unavailable(format!("block {executed} is missing")))?;
        if fr_to_b256(&state.root()) != block.state_root {
            return Err(unavailable(format!(
                "replaying the blocks to {executed} does not give its state root"
            )));
        }
        let view = account_view_of(&state, account, true);
        *replica = Some((executed, state));
        Ok(view.map(|account| ExitProofView {
            block: executed,
            account,
        }))
    }
}

/// An account of `state`, with its proofs when asked.
fn account_view_of(state: &L2State, account: AccountRef, with_proof: bool) -> Option<AccountView> {
    {
        let id = match account {
            AccountRef::Id(id) => id,
            AccountRef::Address(address) => state.account_id_of(&address)?,
        };
        let info = state.account(id)?;
        let path = |p: &manyfold_state::tree::MerklePath| -> Vec<[B256; 3]> {
            p.0.iter()
                .map(|level| level.map(|x| fr_to_b256(&x)))
                .collect()
        };
        let proof = with_proof.then(|| {
            let account_proof = state.account_proof(id);
            AccountProofView {
                state_root: fr_to_b256(&state.root()),
                reserves_root: fr_to_b256(&account_proof.reserves_root),
                balance_root: fr_to_b256(&account_proof.balance_root),
                account_path: path(&account_proof.path),
                balances: info
                    .balances
                    .keys()
                    .map(|token| {
                        let p = state.balance_proof(id, *token);
                        BalanceProofView {
                            token: *token,
                            balance: p.balance,
                            path: path(&p.path),
                        }
                    })
                    .collect(),
            }
        });
        Some(AccountView {
            id,
            address: info.address,
            pubkey_hash: info.pubkey_hash,
            nonce: info.nonce,
            balances: info.balances.into_iter().collect::<BTreeMap<_, _>>(),
            proof,
        })
    }
}

#[async_trait]
impl ManyfoldApiServer for RpcContext {
    async fn send_transaction(&self, tx: L2Tx) -> RpcResult<B256> {
        self.submit(tx).await
    }

    async fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256> {
        let tx =
            L2Tx::decode(&raw).map_err(|e| error(codes::INVALID_TRANSACTION, e.to_string()))?;
        self.submit(tx).await
    }

    async fn get_account(
        &self,
        account: AccountRef,
        proof: Option<bool>,
    ) -> RpcResult<Option<AccountView>> {
        let started = Instant::now();
        let view = self.account_view(account, proof.unwrap_or(false));
        count("getAccount", started, true);
        Ok(view)
    }

    async fn get_exit_proof(&self, account: AccountRef) -> RpcResult<Option<ExitProofView>> {
        let started = Instant::now();
        let view = self.exit_view(account);
        count("getExitProof", started, view.is_ok());
        view
    }

    async fn get_block_by_number(&self, number: BlockTag) -> RpcResult<Option<Block>> {
        let started = Instant::now();
        let result = self
            .resolve(number)
            .and_then(|n| self.blocks.block(n).map_err(unavailable));
        count("getBlockByNumber", started, result.is_ok());
        result
    }

    async fn get_transaction_receipt(&self, hash: B256) -> RpcResult<Option<Receipt>> {
        let started = Instant::now();
        let result = self.blocks.receipt(&hash).map_err(unavailable);
        count("getTransactionReceipt", started, result.is_ok());
        result
    }

    async fn get_settlement_status(&self, number: BlockTag) -> RpcResult<Option<SettlementStatus>> {
        let started = Instant::now();
        let result = self.resolve(number).and_then(|n| self.settlement_status(n));
        count("getSettlementStatus", started, result.is_ok());
        result
    }

    async fn get_transaction_status(&self, hash: B256) -> RpcResult<Option<TransactionStatus>> {
        let started = Instant::now();
        let result = self.transaction_status(hash);
        count("getTransactionStatus", started, result.is_ok());
        result
    }

    async fn chains(&self) -> RpcResult<Vec<ChainInfo>> {
        Ok(self.chains.clone())
    }

    async fn submit_priority_op(&self, op: PriorityOp) -> RpcResult<()> {
        if !self.allow_priority_injection {
            return Err(error(
                codes::METHOD_DISABLED,
                "priority ops come from chain watchers; injection is enabled only on a devnet (dev.allow_priority_injection)",
            ));
        }
        self.mempool.submit_priority(op).await.map_err(from_mempool)
    }

    async fn subscribe_new_blocks(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        let events = self.builder.subscribe();
        let sink = pending.accept().await?;
        forward(events, sink, |event| {
            serde_json::value::to_raw_value(event.block.as_ref())
        })
        .await
    }

    async fn subscribe_status(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        // Subscribe before accepting, so nothing announced in between is missed.
        let blocks = self.builder.subscribe();
        let stages = self.stage_events.as_ref().map(StageEvents::subscribe);
        let sink = pending.accept().await?;
        forward_status(blocks, stages, sink).await
    }
}

/// The next event on `events`, skipping (and counting) whatever a subscriber too slow to
/// keep up missed; `None` once every sender is gone.
async fn next_event<T: Clone>(events: &mut Receiver<T>) -> Option<T> {
    loop {
        match events.recv().await {
            Ok(event) => return Some(event),
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "a subscriber lagged behind");
                metrics::counter!("manyfold_rpc_subscription_lagged_total").increment(missed);
            }
            Err(RecvError::Closed) => return None,
        }
    }
}

/// Forwards block events to a subscriber until it leaves; a subscriber too slow to keep
/// up skips the events it missed rather than holding the builder back.
async fn forward(
    mut events: Receiver<NewBlock>,
    sink: jsonrpsee::SubscriptionSink,
    render: impl Fn(&NewBlock) -> Result<Box<serde_json::value::RawValue>, serde_json::Error>,
) -> SubscriptionResult {
    loop {
        tokio::select! {
            event = next_event(&mut events) => match event {
                Some(event) => {
                    if sink.send(render(&event)?).await.is_err() {
                        return Ok(());
                    }
                }
                None => return Ok(()),
            },
            _ = sink.closed() => return Ok(()),
        }
    }
}

/// Forwards to a subscriber every sealed block and every stage the settlement actors
/// announce, each as one `status` notification, until it leaves or the builder stops.
/// Each announcement is forwarded once, as it arrives; a subscriber too slow to keep up
/// skips what it missed (the stage records stay the truth: `getSettlementStatus`).
async fn forward_status(
    mut blocks: Receiver<NewBlock>,
    mut stages: Option<Receiver<StageChange>>,
    sink: jsonrpsee::SubscriptionSink,
) -> SubscriptionResult {
    loop {
        let change = tokio::select! {
            event = next_event(&mut blocks) => match event {
                Some(event) => StatusChange::sealed(&event.block),
                None => return Ok(()),
            },
            change = next_stage(&mut stages) => StatusChange::from(change),
            _ = sink.closed() => return Ok(()),
        };
        if sink
            .send(serde_json::value::to_raw_value(&change)?)
            .await
            .is_err()
        {
            return Ok(());
        }
    }
}

/// The next stage change; never, when there are no stage events or none can come any
/// more (the node settles nowhere, or the settlement actors are gone).
async fn next_stage(stages: &mut Option<Receiver<StageChange>>) -> StageChange {
    if let Some(events) = stages {
        if let Some(change) = next_event(events).await {
            return change;
        }
        *stages = None;
    }
    std::future::pending().await
}
