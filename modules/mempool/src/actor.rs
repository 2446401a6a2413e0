//! The actix shell around [`Mempool`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use alloy_primitives::B256;
use manyfold_state::SharedState;
use manyfold_storage::{Storage, WriteBatch};
use manyfold_types::{L2Tx, PriorityOp};

use crate::tokens::TokenRegistry;
use crate::{persist, Candidate, Mempool, MempoolConfig, MempoolError, PriorityCursor};

/// Submit an L2 transaction; answered once it is durable.
#[derive(Message)]
#[rtype(result = "Result<B256, MempoolError>")]
struct SubmitTx(L2Tx);

/// Submit a priority op from a chain watcher.
#[derive(Message)]
#[rtype(result = "Result<(), MempoolError>")]
struct SubmitPriority(PriorityOp);

/// Ask for block candidates.
#[derive(Message)]
#[rtype(result = "Vec<Candidate>")]
struct TakeCandidates(usize);

/// A block was durably sealed; what it consumed leaves the pool.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct BlockSealed {
    /// Sequence numbers of the pooled entries the block consumed (included or failed).
    pub consumed: HashSet<u64>,
    /// The priority cursor after the block.
    pub cursor: PriorityCursor,
}

/// Counts of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, MessageResponse)]
pub struct MempoolStatus {
    /// L2 transactions.
    pub txs: usize,
    /// Priority ops.
    pub priority_ops: usize,
}

#[derive(Message)]
#[rtype(result = "MempoolStatus")]
struct GetStatus;

/// The mempool actor. It restarts from storage if it ever stops.
pub struct MempoolActor {
    config: MempoolConfig,
    storage: Arc<dyn Storage>,
    state: SharedState,
    cursor: PriorityCursor,
    tokens: Option<TokenRegistry>,
    pool: Option<Mempool>,
}

impl MempoolActor {
    /// An actor over the pool persisted in `storage`; `cursor` is where each chain's
    /// priority requests resume.
    pub fn new(
        config: MempoolConfig,
        storage: Arc<dyn Storage>,
        state: SharedState,
        cursor: PriorityCursor,
    ) -> Self {
        Self {
            config,
            storage,
            state,
            cursor,
            tokens: None,
            pool: None,
        }
    }

    /// Refuses withdrawals that the destination chain could not pay exactly (a token it
    /// does not carry, digits below its precision there).
    pub fn with_tokens(mut self, tokens: TokenRegistry) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Starts the actor under a supervisor and returns its handle.
    pub fn start_supervised(self, request_timeout: Duration) -> MempoolHandle {
        let addr = Supervisor::start(move |_| self);
        MempoolHandle {
            addr,
            timeout: request_timeout,
        }
    }

    fn pool(&mut self) -> &mut Mempool {
        self.pool
            .as_mut()
            .expect("the pool is loaded when the actor starts")
    }

    fn report(&self) {
        if let Some(pool) = &self.pool {
            metrics::gauge!("manyfold_mempool_txs").set(pool.tx_count() as f64);
            metrics::gauge!("manyfold_mempool_priority_ops").set(pool.priority_count() as f64);
        }
    }
}

impl Actor for MempoolActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let state = self.state.read().expect("state lock poisoned");
        match Mempool::restore(
            self.config,
            self.cursor.clone(),
            self.storage.as_ref(),
            &state,
        ) {
            Ok(mut pool) => {
                if let Some(tokens) = &self.tokens {
                    pool.set_tokens(tokens.clone());
                }
                tracing::info!(
                    txs = pool.tx_count(),
                    priority_ops = pool.priority_count(),
                    "mempool restored"
                );
                self.pool = Some(pool);
            }
            Err(e) => {
                tracing::error!(error = %e, "mempool cannot load its entries; restarting");
                ctx.stop();
            }
        }
        drop(state);
        self.report();
    }
}

impl Supervised for MempoolActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        metrics::counter!("manyfold_actor_restarts_total", "actor" => "mempool").increment(1);
        self.pool = None;
    }
}

impl MempoolActor {
    /// Commits `batch` or takes the admission back: nothing is acknowledged that is not durable.
    fn durable<T>(
        &mut self,
        batch: WriteBatch,
        result: Result<T, MempoolError>,
        undo: impl FnOnce(&mut Mempool),
    ) -> Result<T, MempoolError> {
        let value = result?;
        if let Err(e) = self.storage.commit(batch) {
            undo(self.pool());
            return Err(e.into());
        }
        self.report();
        Ok(value)
    }
}

impl Handler<SubmitTx> for MempoolActor {
    type Result = Result<B256, MempoolError>;

    fn handle(&mut self, SubmitTx(tx): SubmitTx, _: &mut Self::Context) -> Self::Result {
        let started = std::time::Instant::now();
        let mut batch = WriteBatch::new();
        let state = self.state.clone();
        let admitted = {
            let state = state.read().expect("state lock poisoned");
            self.pool().admit(tx, &state, &mut batch)
        };
        let hash = tx.hash();
        let result = self.durable(batch, admitted, |pool| pool.forget(&hash));
        if result.is_ok() {
            // Durable and about to be acknowledged: it must reach a block after a crash.
            manyfold_types::crash::point("mempool.acknowledged");
        }
        let outcome = if result.is_ok() {
            "accepted"
        } else {
            "rejected"
        };
        metrics::counter!("manyfold_mempool_submissions_total", "outcome" => outcome).increment(1);
        metrics::histogram!("manyfold_mempool_submit_seconds")
            .record(started.elapsed().as_secs_f64());
        result
    }
}

impl Handler<SubmitPriority> for MempoolActor {
    type Result = Result<(), MempoolError>;

    fn handle(
        &mut self,
        SubmitPriority(op): SubmitPriority,
        _: &mut Self::Context,
    ) -> Self::Result {
        // A priority op names the chain whose watcher read it; one naming a chain outside
        // the set could only come from a bad source, and no block could ever include it.
        let chain = op.reference().chain;
        if let Err(e) = self
            .state
            .read()
            .expect("state lock poisoned")
            .check_chain(chain)
        {
            return Err(MempoolError::Rejected(e));
        }
        let mut batch = WriteBatch::new();
        let admitted = self.pool().admit_priority(op, &mut batch);
        self.durable(batch, admitted, |pool| pool.forget_priority(op.reference()))
    }
}

impl Handler<TakeCandidates> for MempoolActor {
    type Result = MessageResult<TakeCandidates>;

    fn handle(
        &mut self,
        TakeCandidates(max): TakeCandidates,
        _: &mut Self::Context,
    ) -> Self::Result {
        let state = self.state.clone();
        let state = state.read().expect("state lock poisoned");
        MessageResult(self.pool().candidates(max, &state))
    }
}

impl Handler<BlockSealed> for MempoolActor {
    type Result = ();

    fn handle(&mut self, sealed: BlockSealed, _: &mut Self::Context) {
        self.cursor = sealed.cursor.clone();
        let state = self.state.clone();
        let pruned = {
            let state = state.read().expect("state lock poisoned");
            self.pool()
                .on_block(&sealed.consumed, &sealed.cursor, &state)
        };
        if !pruned.is_empty() {
            tracing::info!(
                count = pruned.len(),
                "pruned transactions that can no longer run"
            );
            let mut batch = WriteBatch::new();
            for seq in pruned {
                persist::delete_persisted(&mut batch, seq);
            }
            if let Err(e) = self.storage.commit(batch) {
                // Harmless: restore() drops them again on the next start.
                tracing::warn!(error = %e, "could not delete pruned mempool rows");
            }
        }
        self.report();
    }
}

impl Handler<GetStatus> for MempoolActor {
    type Result = MempoolStatus;

    fn handle(&mut self, _: GetStatus, _: &mut Self::Context) -> MempoolStatus {
        let pool = self.pool();
        MempoolStatus {
            txs: pool.tx_count(),
            priority_ops: pool.priority_count(),
        }
    }
}

/// How other components reach the mempool. Requests time out rather than hang.
#[derive(Clone)]
pub struct MempoolHandle {
    addr: Addr<MempoolActor>,
    timeout: Duration,
}

impl MempoolHandle {
    async fn ask<M>(&self, msg: M) -> Result<M::Result, MempoolError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        MempoolActor: Handler<M>,
    {
        self.addr
            .send(msg)
            .timeout(self.timeout)
            .await
            .map_err(|e| MempoolError::Unavailable(e.to_string()))
    }

    /// Submits an L2 transaction; `Ok` means it is durably pooled.
    pub async fn submit(&self, tx: L2Tx) -> Result<B256, MempoolError> {
        self.ask(SubmitTx(tx)).await?
    }

    /// Submits a priority op.
    pub async fn submit_priority(&self, op: PriorityOp) -> Result<(), MempoolError> {
        self.ask(SubmitPriority(op)).await?
    }

    /// Up to `max` candidates for the next block.
    pub async fn candidates(&self, max: usize) -> Result<Vec<Candidate>, MempoolError> {
        self.ask(TakeCandidates(max)).await
    }

    /// Reports a sealed block.
    pub async fn block_sealed(&self, sealed: BlockSealed) -> Result<(), MempoolError> {
        self.ask(sealed).await
    }

    /// Counts of the pool.
    pub async fn status(&self) -> Result<MempoolStatus, MempoolError> {
        self.ask(GetStatus).await
    }
}
