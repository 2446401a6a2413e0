use std::sync::{Arc, RwLock};
use std::time::Duration;

use manyfold_block_builder::{BlockBuilderActor, BlockBuilderHandle, BlockStore};
use manyfold_mempool::{MempoolActor, MempoolHandle};
use manyfold_prover::{ProverActor, ProverHandle};
use manyfold_rpc::api::ChainInfo;
use manyfold_rpc::{RpcContext, RpcHandle};
use manyfold_state::{L2State, SharedState};
use manyfold_storage::{SledStorage, Storage};

use crate::config::NodeConfig;

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The database could not be opened or read.
    #[error("storage: {0}")]
    Storage(String),
    /// The JSON-RPC server could not bind.
    #[error("RPC server: {0}")]
    Rpc(std::io::Error),
    /// The metrics endpoint could not start.
    #[error("metrics: {0}")]
    Metrics(String),
    /// The prover is misconfigured.
    #[error("prover: {0}")]
    Prover(String),
    /// The configuration and the deployment disagree, or the deployment is missing.
    #[error("configuration: {0}")]
    Config(String),
}

/// A started node.
pub struct RunningNode {
    /// Where JSON-RPC listens.
    pub rpc_addr: std::net::SocketAddr,
    /// The mempool.
    pub mempool: MempoolHandle,
    /// The block builder.
    pub builder: BlockBuilderHandle,
    /// The prover, if enabled.
    pub prover: Option<ProverHandle>,
    /// Settlement, when chains are configured.
    pub settlement: Option<crate::settlement::Settlement>,
    rpc: RpcHandle,
}

impl RunningNode {
    /// Stops serving RPC, then lets the block builder finish the block it may be sealing
    /// and stops it. Every acknowledged write is already durable, so nothing else needs
    /// flushing; the mempool actor ends with the actix system.
    pub async fn stop(self) {
        self.rpc.stop().await;
        if let Some(settlement) = self.settlement {
            settlement.stop().await;
        }
        if let Some(prover) = &self.prover {
            prover.stop().await;
        }
        self.builder.stop().await;
        tracing::info!("node stopped");
    }
}

/// Starts every component. Must run inside an actix `System`.
pub async fn start(config: &NodeConfig) -> Result<RunningNode, NodeError> {
    if config.metrics.enabled {
        crate::metrics_endpoint::install(config.metrics.addr).map_err(NodeError::Metrics)?;
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|e| NodeError::Storage(e.to_string()))?;
    let storage: Arc<dyn Storage> = Arc::new(
        SledStorage::open(config.data_dir.join("db"))
            .map_err(|e| NodeError::Storage(e.to_string()))?,
    );
    let specs = config
        .chain_specs()
        .map_err(|e| NodeError::Config(e.to_string()))?;
    let deployment = if specs.is_empty() {
        None
    } else {
        let path = config.deployment_path();
        Some(crate::deploy::Deployment::read(&path).map_err(|e| {
            NodeError::Config(format!("{e}: run `manyfold deploy --config FILE` first"))
        })?)
    };
    let chain_set = config
        .chain_set(deployment.as_ref())
        .map_err(|e| NodeError::Config(e.to_string()))?;
    let state: SharedState = Arc::new(RwLock::new(
        L2State::open(storage.as_ref(), chain_set.clone())
            .map_err(|e| NodeError::Storage(e.to_string()))?,
    ));
    let blocks = BlockStore::new(storage.clone());
    let cursor = blocks
        .priority_cursor()
        .map_err(|e| NodeError::Storage(e.to_string()))?;

    // Before any actor starts (loading takes seconds and would hold their thread). With
    // chains, the parameters are loaded here, once: the primary's verifier pins their
    // key, and the prover proves with them.
    // The parameters carry the chain set the prover replays blocks with: the deployed
    // one (a ChangePubKey's signature binds its chain's id and contract), not a local one
    // of the same size (which gives the same circuit and key).
    let params = if config.prover.enabled && deployment.is_some() {
        let (ptau, params_dir) = params_source(config)?;
        Some(Arc::new(
            manyfold_prover::params::load_or_setup(&params_dir, &ptau, &chain_set)
                .map_err(|e| NodeError::Prover(e.to_string()))?,
        ))
    } else {
        None
    };
    let chains = match &deployment {
        None => None,
        Some(deployment) => Some(open_chains(config, &specs, deployment, params.as_deref())?),
    };

    let timeout = Duration::from_millis(config.actors.request_timeout_ms);
    let mut mempool = MempoolActor::new(config.mempool, storage.clone(), state.clone(), cursor);
    if let Some(deployment) = &deployment {
        // Withdrawals only of what the destination chain can pay out exactly.
        mempool = mempool.with_tokens(deployment.token_registry());
    }
    let mempool = mempool.start_supervised(timeout);
    let mut builder = BlockBuilderActor::new(
        config.block,
        storage.clone(),
        state.clone(),
        mempool.clone(),
    );
    if config.prover.enabled {
        // Backpressure: sealing waits while `block.max_unproven_blocks` wait for proofs.
        let proofs = manyfold_prover::ProofStore::new(storage.clone());
        builder = builder.with_proven_height(Arc::new(move || proofs.last_proven().ok()));
    }
    let builder = builder.start_supervised();

    let prover = if config.prover.enabled {
        let (ptau, params_dir) = params_source(config)?;
        let mut actor = ProverActor::new(
            config.prover.clone(),
            storage.clone(),
            params_dir,
            ptau,
            chain_set,
            builder.subscribe(),
        );
        if let Some(params) = params {
            actor = actor.with_params(params);
        }
        Some(actor.start_actor(timeout))
    } else {
        tracing::warn!("the prover is disabled: blocks are sealed but not proven");
        None
    };

    if specs.is_empty() {
        tracing::warn!(
            "no settlement chains configured: the node sequences blocks for one local chain (id 0) but settles nowhere"
        );
    }

    if config.dev.allow_priority_injection {
        tracing::warn!(
            "dev.allow_priority_injection is on: anyone reaching the RPC can inject deposits"
        );
    }
    let stage_events = tokio::sync::broadcast::channel(1024).0;
    let stages = deployment
        .is_some()
        .then(|| manyfold_settler::StageStore::new(storage.clone()));
    let settlement = match (chains, &deployment) {
        (Some(chains), Some(deployment)) => Some(
            crate::settlement::start(crate::settlement::SettlementInputs {
                config,
                storage: storage.clone(),
                chains,
                deployment,
                blocks: blocks.clone(),
                proofs: manyfold_prover::ProofStore::new(storage.clone()),
                mempool: mempool.clone(),
                events: stage_events.clone(),
            })
            .await?,
        ),
        _ => None,
    };
    let endpoints = settlement
        .as_ref()
        .map(|s| s.endpoints.clone())
        .unwrap_or_default();
    let chain_infos = specs
        .iter()
        .map(|c| {
            let deployed = deployment.as_ref().and_then(|d| d.chains.get(&c.name));
            ChainInfo {
                id: c.id,
                name: c.name.clone(),
                kind: c.kind.clone(),
                primary: c.primary,
                evm_chain_id: deployed.map(|d| d.evm_chain_id),
                settlement: deployed.map(|d| d.settlement),
                rpc_url: endpoints.get(&c.name).map(|a| format!("http://{a}")),
                tokens: deployed
                    .map(|d| {
                        d.tokens
                            .iter()
                            .filter_map(|t| {
                                Some(manyfold_rpc::api::ChainToken {
                                    id: manyfold_types::TokenId::new(t.id).ok()?,
                                    address: t.address,
                                    decimals: t.decimals,
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    let context = RpcContext {
        stages,
        stage_events: settlement.as_ref().map(|_| stage_events.clone()),
        holds: deployment
            .is_some()
            .then(|| manyfold_settler::HoldStore::new(storage.clone())),
        exit_replica: Default::default(),
        mempool: mempool.clone(),
        state,
        blocks,
        builder: builder.clone(),
        chains: chain_infos,
        allow_priority_injection: config.dev.allow_priority_injection,
    };
    let rpc = manyfold_rpc::start(&config.rpc, context)
        .await
        .map_err(NodeError::Rpc)?;
    Ok(RunningNode {
        rpc_addr: rpc.local_addr,
        mempool,
        builder,
        prover,
        settlement,
        rpc,
    })
}

/// Builds the configured chains, the primary with the verifier pinned to the prover's key,
/// and checks them against the deployment.
fn open_chains(
    config: &NodeConfig,
    specs: &[manyfold_chain::ChainSpec],
    deployment: &crate::deploy::Deployment,
    params: Option<&manyfold_prover::Params>,
) -> Result<crate::chains::Chains, NodeError> {
    let verifier = match params {
        Some(params) => {
            if alloy_primitives::B256::from(params.vk_digest) != deployment.verifying_key_digest {
                return Err(NodeError::Config(format!(
                    "the prover's verifying key digest {} is not the one the primary's verifier was deployed with ({}): other parameters or another powers-of-tau source",
                    alloy_primitives::B256::from(params.vk_digest),
                    deployment.verifying_key_digest
                )));
            }
            Some(Arc::new(manyfold_prover::PinnedVk::new(params.vk_copy())))
        }
        None => {
            tracing::warn!(
                "the prover is disabled: blocks are committed but never proven or executed"
            );
            None
        }
    };
    let chains = crate::chains::Chains::build(specs, &config.data_dir, verifier)
        .map_err(|e| NodeError::Config(e.to_string()))?;
    if params.is_some() {
        for built in chains.built.iter().filter(|c| c.spec.primary) {
            if !built.chain.capabilities().verifies_proofs {
                return Err(NodeError::Config(format!(
                    "chain `{}` is the primary but cannot verify proofs (kind `{}`): the primary must be a chain with the verifier precompile (kind `embedded`, or `manyfold chain --verifier-params ...` reached as kind `evm` with `verifies_proofs = true`)",
                    built.spec.name, built.spec.kind
                )));
            }
        }
    }
    Ok(chains)
}

/// Where the powers of tau come from, and where parameters are cached.
fn params_source(
    config: &NodeConfig,
) -> Result<(manyfold_prover::PtauSource, std::path::PathBuf), NodeError> {
    let ptau = config
        .prover
        .ptau_source(&config.data_dir)
        .map_err(NodeError::Prover)?;
    let params_dir = config
        .prover
        .params_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("params"));
    Ok((ptau, params_dir))
}

/// The prover's parameters for a rollup over `chains` chains: loaded from the cache, or set
/// up (minutes) and cached. The circuit's shape depends on the number of chains only.
pub(crate) fn load_params(
    config: &NodeConfig,
    chains: usize,
) -> Result<manyfold_prover::Params, NodeError> {
    let (ptau, params_dir) = params_source(config)?;
    manyfold_prover::params::load_or_setup(
        &params_dir,
        &ptau,
        &manyfold_types::ChainSet::local(chains.max(1)),
    )
    .map_err(|e| NodeError::Prover(e.to_string()))
}

/// Runs the node until SIGINT or SIGTERM, then shuts down gracefully.
pub fn run(config: NodeConfig) -> Result<(), NodeError> {
    run_with(config, |_| {})
}

/// [`run`], calling `started` once every component is up (the devnet prints its
/// endpoints there).
pub fn run_with(config: NodeConfig, started: impl FnOnce(&RunningNode)) -> Result<(), NodeError> {
    let system = actix_rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    });
    system.block_on(async move {
        let node = start(&config).await?;
        started(&node);
        wait_for_shutdown_signal().await;
        tracing::info!("shutting down");
        node.stop().await;
        actix_rt::System::current().stop();
        Ok(())
    })
}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
