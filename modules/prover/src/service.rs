//! The prover actor: a thin actix shell over a proving thread.
//!
//! Proving is CPU work that must not run on the actor runtime, so it runs on a thread of
//! its own. The actor hears of sealed blocks and passes their numbers to that thread over
//! a bounded channel; when the channel is full the notification is dropped, which is safe
//! because the thread reads the blocks themselves from the store: the builder is never
//! held back, and the prover's backlog (a gauge) shows how far behind it is.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use manyfold_block_builder::NewBlock;
use manyfold_storage::Storage;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::block_prover::{BlockHook, BlockProver, ProverError};
use crate::params::{hex32, load_or_setup, PtauSource};
use crate::store::{ProofStore, StoredProof};
use crate::Params;
use manyfold_types::ChainSet;

/// Prover settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProverConfig {
    /// Whether the node proves blocks.
    pub enabled: bool,
    /// Where public parameters are cached (default: `<data_dir>/params`).
    pub params_dir: Option<PathBuf>,
    /// A directory of ceremony powers-of-tau files; required unless `insecure_devnet_setup`.
    pub ptau_dir: Option<PathBuf>,
    /// Generate an insecure local powers-of-tau file (devnet only; loudly logged).
    pub insecure_devnet_setup: bool,
    /// Most blocks compressed into one proof.
    pub max_blocks_per_proof: u32,
    /// Sealed-block notifications buffered for the proving thread.
    pub queue_depth: usize,
}

impl Default for ProverConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            params_dir: None,
            ptau_dir: None,
            insecure_devnet_setup: false,
            max_blocks_per_proof: 8,
            queue_depth: 64,
        }
    }
}

impl ProverConfig {
    /// Where powers of tau come from, or why there is no source.
    pub fn ptau_source(&self, data_dir: &std::path::Path) -> Result<PtauSource, String> {
        match (&self.ptau_dir, self.insecure_devnet_setup) {
            (Some(dir), false) => Ok(PtauSource::Ceremony(dir.clone())),
            (None, true) => Ok(PtauSource::InsecureDevnet(data_dir.join("insecure-ptau"))),
            (Some(_), true) => {
                Err("prover.ptau_dir and prover.insecure_devnet_setup exclude each other".into())
            }
            (None, false) => Err(
                "prover.ptau_dir (ceremony files) is required unless prover.insecure_devnet_setup"
                    .into(),
            ),
        }
    }
}

/// Where the prover stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, MessageResponse)]
pub struct ProverStatus {
    /// Whether parameters are loaded and proving runs.
    pub ready: bool,
    /// Last block covered by a stored proof.
    pub last_proven: u32,
    /// Sealed blocks waiting to be proven.
    pub backlog: u32,
    /// [`crate::verifying_key_digest`] of the loaded parameters' verifying key.
    pub vk_digest: Option<[u8; 32]>,
    /// Proving attempts that panicked since start-up (each was retried).
    pub panics: u64,
    /// The block whose proving failed (panic or error) and has not succeeded since; `None`
    /// while proving is healthy.
    pub failing_block: Option<u32>,
}

#[derive(Message)]
#[rtype(result = "ProverStatus")]
struct GetStatus;

/// The prover actor.
pub struct ProverActor {
    config: ProverConfig,
    storage: Arc<dyn Storage>,
    params_dir: PathBuf,
    ptau: PtauSource,
    chains: ChainSet,
    events: Option<broadcast::Receiver<NewBlock>>,
    status: Arc<Mutex<ProverStatus>>,
    stop: Arc<AtomicBool>,
    wake: Option<SyncSender<u32>>,
    block_hook: Option<BlockHook>,
    params: Option<Arc<Params>>,
}

impl ProverActor {
    /// A prover of the blocks in `storage`, woken by `events`.
    pub fn new(
        config: ProverConfig,
        storage: Arc<dyn Storage>,
        params_dir: PathBuf,
        ptau: PtauSource,
        chains: ChainSet,
        events: broadcast::Receiver<NewBlock>,
    ) -> Self {
        Self {
            chains,
            config,
            storage,
            params_dir,
            ptau,
            events: Some(events),
            status: Arc::default(),
            stop: Arc::new(AtomicBool::new(false)),
            wake: None,
            block_hook: None,
            params: None,
        }
    }

    /// Calls `hook` before each block is proven, on the proving thread: fault injection for
    /// tests (a hook that panics plays a witness that makes nova's gadgets panic).
    #[cfg(feature = "test-utils")]
    pub fn with_block_hook(mut self, hook: BlockHook) -> Self {
        self.block_hook = Some(hook);
        self
    }

    /// Proves with `params`, already loaded (the node loads them once: the primary's
    /// verifier pins the same key), instead of loading them on the proving thread.
    pub fn with_params(mut self, params: Arc<Params>) -> Self {
        self.params = Some(params);
        self
    }

    /// Starts the proving thread and the actor, and returns the actor's handle.
    pub fn start_actor(mut self, request_timeout: Duration) -> ProverHandle {
        let (tx, rx) = sync_channel::<u32>(self.config.queue_depth.max(1));
        self.wake = Some(tx);
        let params_dir = self.params_dir.clone();
        let ptau = self.ptau.clone();
        let preloaded = self.params.take();
        let worker = Worker {
            storage: self.storage.clone(),
            chains: self.chains.clone(),
            max_blocks: self.config.max_blocks_per_proof,
            wake: rx,
            status: self.status.clone(),
            stop: self.stop.clone(),
            hook: self.block_hook.clone(),
        };
        let worker = std::thread::Builder::new()
            .name("manyfold-prover".into())
            .spawn(move || worker.run(preloaded, params_dir, ptau))
            .expect("the prover thread starts");
        let store = ProofStore::new(self.storage.clone());
        let stop = self.stop.clone();
        let addr = self.start();
        ProverHandle {
            addr,
            store,
            timeout: request_timeout,
            stop,
            worker: Arc::new(Mutex::new(Some(worker))),
        }
    }
}

impl Actor for ProverActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let tx = self.wake.take().expect("start_actor creates the channel");
        if let Some(mut events) = self.events.take() {
            ctx.spawn(
                async move {
                    loop {
                        match events.recv().await {
                            Ok(block) => notify(&tx, block.block.number),
                            Err(broadcast::error::RecvError::Lagged(_)) => notify(&tx, 0),
                            Err(broadcast::error::RecvError::Closed) => break,
                        }
                    }
                }
                .into_actor(self),
            );
        }
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.stop.store(true, Ordering::SeqCst);
        Running::Stop
    }
}

fn notify(tx: &SyncSender<u32>, block: u32) {
    match tx.try_send(block) {
        Ok(()) | Err(TrySendError::Disconnected(_)) => {}
        // The thread reads blocks from the store; a dropped wake-up loses nothing.
        Err(TrySendError::Full(_)) => {
            metrics::counter!("manyfold_prover_notifications_dropped_total").increment(1)
        }
    }
}

/// First wait after a failed attempt; it doubles with each consecutive failure of the same
/// block, up to [`MAX_RETRY_DELAY`].
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);
/// Longest wait between two attempts at a block that keeps failing.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// The wait before the next attempt after `failures` consecutive failures (1 or more).
pub fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY_DELAY
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY)
}

/// The proving thread.
struct Worker {
    storage: Arc<dyn Storage>,
    chains: ChainSet,
    max_blocks: u32,
    wake: std::sync::mpsc::Receiver<u32>,
    status: Arc<Mutex<ProverStatus>>,
    stop: Arc<AtomicBool>,
    hook: Option<BlockHook>,
}

/// Consecutive failures at one block.
#[derive(Debug, Default)]
struct Failing {
    block: u32,
    failures: u32,
}

impl Worker {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps for `delay`, or less if asked to stop.
    fn pause(&self, delay: Duration) {
        let until = Instant::now() + delay;
        while !self.stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    fn set_status(&self, update: impl FnOnce(&mut ProverStatus)) {
        // A poisoned lock only means a panic elsewhere while it was held: the status is plain
        // data, still usable.
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        update(&mut status);
    }

    fn run(self, preloaded: Option<Arc<Params>>, params_dir: PathBuf, ptau: PtauSource) {
        let loaded = match preloaded {
            // Blocks are replayed with the parameters' chain set: it must be the node's.
            Some(params) if params.chains != self.chains => {
                tracing::error!("the prover was handed parameters for another chain set; blocks will not be proven");
                return;
            }
            Some(params) => Ok(params),
            None => load_or_setup(&params_dir, &ptau, &self.chains).map(Arc::new),
        };
        let params: Arc<Params> = match loaded {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "the prover cannot load its parameters; blocks will not be proven");
                return;
            }
        };
        tracing::info!(
            vk_digest = %hex32(&params.vk_digest),
            shape_digest = %hex32(&params.shape_digest),
            ptau_digest = %hex32(&params.ptau_digest),
            cache_key = %hex32(&params.cache_key),
            "prover ready; the primary's verifier must pin this verifying key digest"
        );
        self.set_status(|s| s.vk_digest = Some(params.vk_digest));
        let mut prover: Option<BlockProver> = None;
        let mut failing: Option<Failing> = None;
        while !self.stopping() {
            // Supervision: a panic while proving (a witness that trips one of nova's gadgets,
            // a bug) must not end the thread. It is caught, reported with its block, and
            // proving starts again from the durable progress after a backoff.
            let attempt = catch_unwind(AssertUnwindSafe(|| self.attempt(&params, &mut prover)));
            let (kind, message) = match attempt {
                Ok(Ok(Some(_))) => {
                    if let Some(f) = failing.take() {
                        tracing::info!(block = f.block, failures = f.failures, "proving recovered");
                        metrics::gauge!("manyfold_prover_failing_block").set(0.0);
                        self.set_status(|s| s.failing_block = None);
                    }
                    self.report_progress(prover.as_ref());
                    continue;
                }
                Ok(Ok(None)) => {
                    self.report_progress(prover.as_ref());
                    match self.wake.recv_timeout(Duration::from_millis(500)) {
                        Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => {
                            self.pause(Duration::from_millis(500))
                        }
                    }
                    continue;
                }
                Ok(Err(ProverError::Stopped)) => break,
                Ok(Err(e)) => ("error", e.to_string()),
                Err(payload) => ("panic", panic_message(payload.as_ref())),
            };
            // The replica may be part-way through a range: start again from what is durable.
            let block = prover
                .take()
                .and_then(|p| p.proving_block())
                .unwrap_or_else(|| {
                    ProofStore::new(self.storage.clone())
                        .last_proven()
                        .unwrap_or(0)
                        + 1
                });
            let f = match failing.take() {
                Some(f) if f.block == block => Failing {
                    block,
                    failures: f.failures + 1,
                },
                _ => Failing { block, failures: 1 },
            };
            let delay = retry_delay(f.failures);
            if kind == "panic" {
                metrics::counter!("manyfold_prover_panics_total").increment(1);
            } else {
                metrics::counter!("manyfold_prover_errors_total").increment(1);
            }
            metrics::counter!("manyfold_actor_restarts_total", "actor" => "prover").increment(1);
            metrics::gauge!("manyfold_prover_failing_block").set(block as f64);
            tracing::error!(
                block,
                attempt = f.failures,
                retry_in_ms = delay.as_millis() as u64,
                kind,
                error = %message,
                "proving failed; resuming from the last stored proof after a backoff"
            );
            self.set_status(|s| {
                s.failing_block = Some(block);
                if kind == "panic" {
                    s.panics += 1;
                }
            });
            failing = Some(f);
            self.pause(delay);
        }
    }

    /// Opens the prover from durable progress if needed, and proves the next range.
    fn attempt(
        &self,
        params: &Arc<Params>,
        prover: &mut Option<BlockProver>,
    ) -> Result<Option<StoredProof>, ProverError> {
        let current = match prover {
            Some(p) => p,
            None => {
                let mut opened =
                    BlockProver::open(params.clone(), self.storage.clone(), self.max_blocks)?;
                opened.set_block_hook(self.hook.clone());
                prover.insert(opened)
            }
        };
        current.prove_next(&self.stop)
    }

    fn report_progress(&self, prover: Option<&BlockProver>) {
        if let Some(p) = prover {
            let backlog = p.backlog().unwrap_or(0);
            metrics::gauge!("manyfold_prover_backlog_blocks").set(backlog as f64);
            let last_proven = p.last_proven();
            self.set_status(|s| {
                s.ready = true;
                s.last_proven = last_proven;
                s.backlog = backlog;
            });
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

impl Handler<GetStatus> for ProverActor {
    type Result = ProverStatus;

    fn handle(&mut self, _: GetStatus, _: &mut Self::Context) -> ProverStatus {
        *self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How other components reach the prover.
#[derive(Clone)]
pub struct ProverHandle {
    addr: Addr<ProverActor>,
    store: ProofStore,
    timeout: Duration,
    stop: Arc<AtomicBool>,
    worker: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl ProverHandle {
    /// Where the prover stands.
    pub async fn status(&self) -> Option<ProverStatus> {
        self.addr.send(GetStatus).timeout(self.timeout).await.ok()
    }

    /// The stored proof covering `block`.
    pub fn proof_covering(&self, block: u32) -> Option<StoredProof> {
        self.store.proof_covering(block).ok().flatten()
    }

    /// Stops the proving thread after its current step and waits for it (a range in
    /// progress is not stored and is proven again on the next start). Later calls do
    /// nothing.
    pub async fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let worker = self.worker.lock().expect("worker lock").take();
        if let Some(worker) = worker {
            let _ = tokio::task::spawn_blocking(move || worker.join()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 9 item 2: a block that keeps failing is retried with a growing, capped
    /// backoff, never in a busy loop.
    #[test]
    fn retries_back_off_exponentially_up_to_a_cap() {
        assert_eq!(retry_delay(1), FIRST_RETRY_DELAY);
        assert_eq!(retry_delay(2), FIRST_RETRY_DELAY * 2);
        assert_eq!(retry_delay(3), FIRST_RETRY_DELAY * 4);
        assert_eq!(retry_delay(100), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY_DELAY);
        assert!((1..40).all(|n| retry_delay(n) <= retry_delay(n + 1)));
    }
}
