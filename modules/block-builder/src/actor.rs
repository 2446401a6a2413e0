//! The actix shell that paces [`BlockBuilder`].

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use manyfold_mempool::{BlockSealed, Candidate, MempoolHandle};
use manyfold_state::SharedState;
use manyfold_storage::Storage;
use manyfold_types::{Block, Op, Receipt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::BlockBuilder;

/// When blocks are sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockBuilderConfig {
    /// A block is sealed as soon as this many ops are waiting.
    pub max_ops_per_block: usize,
    /// ...or when the oldest waiting op has waited this long (milliseconds).
    pub max_block_time_ms: u64,
    /// How often the builder looks at the mempool (milliseconds).
    pub poll_interval_ms: u64,
    /// Sealed-block notifications buffered per slow subscriber before it misses some.
    pub subscriber_buffer: usize,
    /// Most blocks sealed and not yet proven: at this many the builder seals nothing more
    /// until the prover catches up, so the proving backlog (and the time an op waits to
    /// be proven) stays bounded; the mempool then fills and refuses new transactions
    /// with "mempool full". 0: no bound. Applies only when the node proves.
    #[serde(default = "default_max_unproven_blocks")]
    pub max_unproven_blocks: u32,
}

fn default_max_unproven_blocks() -> u32 {
    64
}

/// Whether the proving backlog is full: `sealed` blocks, `proven` of them proven, at most
/// `max_unproven` (0: no bound) waiting.
pub fn proving_backlog_full(sealed: u32, proven: u32, max_unproven: u32) -> bool {
    max_unproven > 0 && sealed.saturating_sub(proven) >= max_unproven
}

/// Where the block builder reads how far the prover got: the last block proven, `None`
/// when that cannot be read (the builder then seals as if unbounded, and says so).
pub type ProvenHeight = Arc<dyn Fn() -> Option<u32> + Send + Sync>;

impl Default for BlockBuilderConfig {
    fn default() -> Self {
        Self {
            max_ops_per_block: 128,
            max_block_time_ms: 1_000,
            poll_interval_ms: 50,
            subscriber_buffer: 256,
            max_unproven_blocks: default_max_unproven_blocks(),
        }
    }
}

/// Where the block builder reads the time: Unix seconds. The builder never gives a block
/// a timestamp below its parent's, whatever the clock says (see [`BlockBuilder::seal`]).
pub trait Clock: Send + Sync {
    /// The current time, in Unix seconds.
    fn now(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

impl<F: Fn() -> u64 + Send + Sync> Clock for F {
    fn now(&self) -> u64 {
        self()
    }
}

/// A sealed block, as announced to subscribers.
#[derive(Debug, Clone)]
pub struct NewBlock {
    /// The block.
    pub block: Arc<Block>,
    /// Receipts of the transactions it consumed.
    pub receipts: Arc<Vec<Receipt>>,
    /// The ops it applied, signatures included.
    pub ops: Arc<Vec<Op>>,
}

/// The block builder actor. It restarts from durable state if it ever stops.
pub struct BlockBuilderActor {
    config: BlockBuilderConfig,
    storage: Arc<dyn Storage>,
    state: SharedState,
    mempool: MempoolHandle,
    events: broadcast::Sender<NewBlock>,
    builder: Option<BlockBuilder>,
    waiting_since: Option<Instant>,
    clock: Arc<dyn Clock>,
    proven: Option<ProvenHeight>,
    backpressured: bool,
}

impl BlockBuilderActor {
    /// A builder over `storage`, fed by `mempool`, writing to `state`.
    pub fn new(
        config: BlockBuilderConfig,
        storage: Arc<dyn Storage>,
        state: SharedState,
        mempool: MempoolHandle,
    ) -> Self {
        let (events, _) = broadcast::channel(config.subscriber_buffer.max(1));
        Self {
            config,
            storage,
            state,
            mempool,
            events,
            builder: None,
            waiting_since: None,
            clock: Arc::new(SystemClock),
            proven: None,
            backpressured: false,
        }
    }

    /// Bounds the proving backlog by `config.max_unproven_blocks`, reading the prover's
    /// progress from `proven`.
    pub fn with_proven_height(mut self, proven: ProvenHeight) -> Self {
        self.proven = Some(proven);
        self
    }

    /// Whether sealing waits for the prover now; logs and gauges each change.
    fn waits_for_prover(&mut self, sealed: u32) -> bool {
        let Some(proven) = &self.proven else {
            return false;
        };
        let full = match proven() {
            Some(proven) => proving_backlog_full(sealed, proven, self.config.max_unproven_blocks),
            None => {
                tracing::warn!("the prover's progress cannot be read; sealing without a bound");
                false
            }
        };
        if full != self.backpressured {
            self.backpressured = full;
            metrics::gauge!("manyfold_block_builder_waiting_for_prover")
                .set(f64::from(u8::from(full)));
            if full {
                tracing::warn!(
                    sealed, max_unproven = self.config.max_unproven_blocks,
                    "the proving backlog is full: sealing waits for the prover (the mempool fills, then refuses)"
                );
            } else {
                tracing::info!(sealed, "the prover caught up: sealing again");
            }
        }
        full
    }

    /// Reads block timestamps from `clock` instead of the system clock (tests step it).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Starts the actor on its own thread (sealing is CPU work) under a supervisor.
    pub fn start_supervised(self) -> BlockBuilderHandle {
        let events = self.events.clone();
        let arbiter = Arbiter::new();
        let addr = Supervisor::start_in_arbiter(&arbiter.handle(), move |_| self);
        BlockBuilderHandle {
            events,
            _addr: addr,
            arbiter: Arc::new(std::sync::Mutex::new(Some(arbiter))),
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let mempool = self.mempool.clone();
        let max = self.config.max_ops_per_block;
        let work = async move { mempool.candidates(max).await }
            .into_actor(self)
            .then(|candidates, act, ctx| {
                let sealed = match candidates {
                    Ok(candidates) => act.maybe_seal(&candidates, ctx),
                    Err(e) => {
                        tracing::warn!(error = %e, "mempool did not answer");
                        None
                    }
                };
                let mempool = act.mempool.clone();
                async move {
                    if let Some(sealed) = sealed {
                        // The mempool must drop what the block consumed before the next tick
                        // asks for candidates, hence the wait.
                        if let Err(e) = mempool.block_sealed(sealed).await {
                            tracing::warn!(error = %e, "mempool did not take the sealed block");
                        }
                    }
                }
                .into_actor(act)
            });
        ctx.wait(work);
    }

    fn maybe_seal(
        &mut self,
        candidates: &[Candidate],
        ctx: &mut Context<Self>,
    ) -> Option<BlockSealed> {
        metrics::gauge!("manyfold_block_builder_pending_ops").set(candidates.len() as f64);
        if candidates.is_empty() {
            self.waiting_since = None;
            return None;
        }
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        let full = candidates.len() >= self.config.max_ops_per_block;
        if !full && since.elapsed() < Duration::from_millis(self.config.max_block_time_ms) {
            return None;
        }
        let sealed = self.builder.as_ref()?.last_block().number;
        if self.waits_for_prover(sealed) {
            return None;
        }
        let builder = self.builder.as_mut()?;
        let started = Instant::now();
        match builder.seal(candidates, self.clock.now()) {
            Ok(Some(sealed)) => {
                self.waiting_since = None;
                let block = &sealed.block;
                let failed = sealed.receipts.iter().filter(|r| r.error.is_some()).count();
                tracing::info!(number = block.number, ops = block.ops.len(), failed, root = %block.state_root, "sealed block");
                metrics::counter!("manyfold_blocks_sealed_total").increment(1);
                metrics::counter!("manyfold_block_ops_total").increment(block.ops.len() as u64);
                metrics::counter!("manyfold_block_failed_txs_total").increment(failed as u64);
                metrics::gauge!("manyfold_block_height").set(block.number as f64);
                metrics::histogram!("manyfold_block_seal_seconds")
                    .record(started.elapsed().as_secs_f64());
                // No subscriber is not an error.
                let _ = self.events.send(NewBlock {
                    block: sealed.block.clone(),
                    receipts: Arc::new(sealed.receipts.clone()),
                    ops: Arc::new(sealed.ops.clone()),
                });
                Some(BlockSealed {
                    consumed: sealed.consumed,
                    cursor: sealed.cursor,
                })
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "sealing failed; restarting the block builder from durable state");
                ctx.stop();
                None
            }
        }
    }
}

impl Actor for BlockBuilderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        match BlockBuilder::open(self.storage.clone(), self.state.clone()) {
            Ok(builder) => {
                let last = builder.last_block();
                tracing::info!(height = last.number, root = %last.state_root, "block builder ready");
                metrics::gauge!("manyfold_block_height").set(last.number as f64);
                self.builder = Some(builder);
            }
            Err(e) => {
                tracing::error!(error = %e, "block builder cannot open its store");
                ctx.stop();
                return;
            }
        }
        ctx.run_interval(
            Duration::from_millis(self.config.poll_interval_ms.max(1)),
            |act, ctx| act.tick(ctx),
        );
    }
}

impl Supervised for BlockBuilderActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        metrics::counter!("manyfold_actor_restarts_total", "actor" => "block_builder").increment(1);
        self.builder = None;
        self.waiting_since = None;
        self.backpressured = false;
    }
}

/// How other components follow the block builder.
#[derive(Clone)]
pub struct BlockBuilderHandle {
    events: broadcast::Sender<NewBlock>,
    _addr: Addr<BlockBuilderActor>,
    arbiter: Arc<std::sync::Mutex<Option<Arbiter>>>,
}

impl BlockBuilderHandle {
    /// Stops the builder after the block it may be sealing, and waits for its thread to
    /// end (releasing the store). Later calls do nothing.
    pub async fn stop(&self) {
        let arbiter = self.arbiter.lock().expect("arbiter lock poisoned").take();
        if let Some(arbiter) = arbiter {
            arbiter.stop();
            let _ = tokio::task::spawn_blocking(move || arbiter.join()).await;
        }
    }

    /// A stream of sealed blocks from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NewBlock> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::proving_backlog_full;

    #[test]
    fn the_backlog_is_full_at_the_bound_and_never_without_one() {
        assert!(!proving_backlog_full(10, 0, 0), "0 is no bound");
        assert!(!proving_backlog_full(9, 0, 10));
        assert!(proving_backlog_full(10, 0, 10));
        assert!(!proving_backlog_full(10, 1, 10));
        // A store proven past what this builder sealed (a lagging read) is not full.
        assert!(!proving_backlog_full(3, 5, 1));
    }
}
