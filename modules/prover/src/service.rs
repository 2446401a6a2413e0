//! The prover actor: a thin actix shell over a proving thread.
//!
//! Proving is CPU work that must not run on the actor runtime, so it runs on a thread of
//! its own. The actor hears of sealed blocks and passes their numbers to that thread over
//! a bounded channel; when the channel is full the notification is dropped, which is safe
//! because the thread reads the blocks themselves from the store: the builder is never
//! held back, and the prover's backlog (a gauge) shows how far behind it is.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use manyfold_block_builder::NewBlock;
use manyfold_storage::Storage;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::block_prover::BlockProver;
use crate::params::{load_or_setup, PtauSource};
use crate::store::{ProofStore, StoredProof};
use crate::Params;

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
    events: Option<broadcast::Receiver<NewBlock>>,
    status: Arc<Mutex<ProverStatus>>,
    stop: Arc<AtomicBool>,
    wake: Option<SyncSender<u32>>,
}

impl ProverActor {
    /// A prover of the blocks in `storage`, woken by `events`.
    pub fn new(
        config: ProverConfig,
        storage: Arc<dyn Storage>,
        params_dir: PathBuf,
        ptau: PtauSource,
        events: broadcast::Receiver<NewBlock>,
    ) -> Self {
        Self {
            config,
            storage,
            params_dir,
            ptau,
            events: Some(events),
            status: Arc::default(),
            stop: Arc::new(AtomicBool::new(false)),
            wake: None,
        }
    }

    /// Starts the proving thread and the actor, and returns the actor's handle.
    pub fn start_actor(mut self, request_timeout: Duration) -> ProverHandle {
        let (tx, rx) = sync_channel::<u32>(self.config.queue_depth.max(1));
        self.wake = Some(tx);
        let storage = self.storage.clone();
        let params_dir = self.params_dir.clone();
        let ptau = self.ptau.clone();
        let status = self.status.clone();
        let stop = self.stop.clone();
        let max_blocks = self.config.max_blocks_per_proof;
        let worker = std::thread::Builder::new()
            .name("manyfold-prover".into())
            .spawn(move || run(storage, params_dir, ptau, max_blocks, rx, status, stop))
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

fn run(
    storage: Arc<dyn Storage>,
    params_dir: PathBuf,
    ptau: PtauSource,
    max_blocks: u32,
    wake: std::sync::mpsc::Receiver<u32>,
    status: Arc<Mutex<ProverStatus>>,
    stop: Arc<AtomicBool>,
) {
    let params: Arc<Params> = match load_or_setup(&params_dir, &ptau) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            tracing::error!(error = %e, "the prover cannot load its parameters; blocks will not be proven");
            return;
        }
    };
    let mut prover: Option<BlockProver> = None;
    while !stop.load(Ordering::SeqCst) {
        let current = match prover.as_mut() {
            Some(p) => p,
            None => match BlockProver::open(params.clone(), storage.clone(), max_blocks) {
                Ok(p) => prover.insert(p),
                Err(e) => {
                    tracing::error!(error = %e, "the prover cannot resume; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            },
        };
        match current.prove_next(&stop) {
            Ok(Some(_)) => {}
            Ok(None) => match wake.recv_timeout(Duration::from_millis(500)) {
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(500))
                }
            },
            Err(crate::ProverError::Stopped) => break,
            Err(e) => {
                // Start again from what is durable.
                tracing::error!(error = %e, "proving failed; resuming from the last stored proof");
                prover = None;
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        }
        if let Some(p) = &prover {
            let backlog = p.backlog().unwrap_or(0);
            metrics::gauge!("manyfold_prover_backlog_blocks").set(backlog as f64);
            *status.lock().expect("status lock") = ProverStatus {
                ready: true,
                last_proven: p.last_proven(),
                backlog,
            };
        }
    }
}

impl Handler<GetStatus> for ProverActor {
    type Result = ProverStatus;

    fn handle(&mut self, _: GetStatus, _: &mut Self::Context) -> ProverStatus {
        *self.status.lock().expect("status lock")
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
