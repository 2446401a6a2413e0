//! Settlement in the node: one durable sender per chain, the primary settler, a sync actor
//! per secondary with the in-node committee, a priority watcher per chain, and the
//! embedded chains' miners and JSON-RPC servers. The one place these are put together.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Arbiter};
use alloy_primitives::Address;
use k256::ecdsa::SigningKey;
use manyfold_block_builder::BlockStore;
use manyfold_chain::{BuiltChain, ChainReader};
use manyfold_chain_embedded::MinerHandle;
use manyfold_contracts::attestation::Receiver;
use manyfold_mempool::{MempoolError, MempoolHandle};
use manyfold_prover::ProofStore;
use manyfold_sender::{DurableSender, LocalSigner, SenderConfig, TxSigner};
use manyfold_settler::{
    ContractReader, ExpiryWatch, HoldStore, PrimaryConfig, PrimarySettler, Records, SenderDriver,
    SettlerError, SharedSender, StageEvents, Step, StepActor,
};
use manyfold_storage::Storage;
use manyfold_sync::{Committee, SyncChains, SyncConfig, SyncSettler, SyncTransport};
use manyfold_watcher::{PollerOptions, PriorityWatcher, WatcherConfig, WatcherError, WatcherEvent};
use serde::{Deserialize, Serialize};

use crate::chains::Chains;
use crate::deploy::Deployment;
use crate::node::NodeError;

/// The `[settlement]` section: keys, pacing and caps of the settlement actors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SettlementConfig {
    /// Environment variable holding the operator's key (hex): it signs every settlement
    /// transaction. One of this and `operator_key_file`.
    pub operator_key_env: Option<String>,
    /// File holding the operator's key (hex), readable by its owner only.
    pub operator_key_file: Option<PathBuf>,
    /// Environment variables holding the committee keys this node signs with (hex). At
    /// least `threshold` keys between these and `committee_key_files`; a devnet takes its
    /// committee's key from the dev mnemonic instead (`dev.keys_from_mnemonic`).
    pub committee_key_envs: Vec<String>,
    /// Files holding committee keys (hex), readable by their owner only.
    pub committee_key_files: Vec<PathBuf>,
    /// Signatures per attestation: the contracts' threshold (M of M-of-N).
    pub threshold: usize,
    /// Milliseconds between two steps of each settlement actor.
    pub step_interval_ms: u64,
    /// Milliseconds between two polls of each chain's priority watcher.
    pub watch_interval_ms: u64,
    /// Most blocks one commit transaction carries, on every chain (at most 32 on a
    /// secondary); each actor sends at most one commit per step.
    pub max_commits_per_step: u32,
    /// Most blocks one `executeBlocks` carries: on the primary it always ends at a proven
    /// range's end; on a secondary (at most 32) a longer confirmed prefix is marked first
    /// and executed in calls of this size.
    pub max_blocks_per_execute: u32,
    /// Fee cap of every settlement transaction, in wei (figment reads no integer wider
    /// than 64 bits; 18 ETH per gas is no cap anyone needs).
    pub max_fee_per_gas: u64,
    /// Priority fee cap, in wei.
    pub max_priority_fee_per_gas: u64,
    /// Most settlement transactions in flight per chain.
    pub max_in_flight: usize,
    /// The highest gas limit a settlement transaction gets (estimate plus a margin, at
    /// most this; one whose estimate is above it is not sent). Verifying a proof on the
    /// embedded primary takes about 13M gas: keep it below the chains' block gas limit.
    pub max_gas_limit: u64,
    /// Most blocks the watchers read per request.
    pub max_log_range: u64,
    /// Seconds before the oldest open priority request of a chain expires (after which
    /// anyone may put that chain into exodus) that the node warns; unset: a quarter of
    /// `deploy.priority_expiry_s`.
    pub expiry_warning_s: Option<u64>,
}

impl Default for SettlementConfig {
    fn default() -> Self {
        Self {
            operator_key_env: None,
            operator_key_file: None,
            committee_key_envs: Vec::new(),
            committee_key_files: Vec::new(),
            threshold: 1,
            step_interval_ms: 250,
            watch_interval_ms: 500,
            max_commits_per_step: 16,
            max_blocks_per_execute: 64,
            max_fee_per_gas: 500_000_000_000,
            max_priority_fee_per_gas: 10_000_000_000,
            max_in_flight: 4,
            max_gas_limit: 25_000_000,
            max_log_range: 1_000,
            expiry_warning_s: None,
        }
    }
}

/// Dev account indexes of the embedded chains' mnemonic that a devnet node uses for
/// itself (`dev.keys_from_mnemonic`): the deployer (governor), the operator, the
/// committee. Users get the accounts below them.
pub const DEV_DEPLOYER: u32 = 7;
/// The devnet operator's dev account.
pub const DEV_OPERATOR: u32 = 8;
/// The devnet committee's dev account.
pub const DEV_COMMITTEE: u32 = 9;

/// The secret of dev account `index` of the public test mnemonic.
pub fn dev_key(index: u32) -> [u8; 32] {
    manyfold_chain_embedded::dev_accounts(manyfold_chain_embedded::DEV_MNEMONIC, index + 1)
        .expect("the public test mnemonic derives")[index as usize]
        .secret
        .0
}

fn read_key(
    env: Option<&str>,
    file: Option<&std::path::Path>,
    what: &str,
) -> Result<Option<[u8; 32]>, NodeError> {
    let text = match (env, file) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(NodeError::Config(format!(
                "{what}: name an environment variable or a file, not both"
            )))
        }
        (Some(var), None) => std::env::var(var)
            .map_err(|_| NodeError::Config(format!("{what}: ${var} is not set")))?,
        (None, Some(path)) => {
            crate::deploy::check_private(path)
                .map_err(|e| NodeError::Config(format!("{what}: {e}")))?;
            std::fs::read_to_string(path)
                .map_err(|e| NodeError::Config(format!("{what}: {}: {e}", path.display())))?
        }
    };
    let hex = text.trim().trim_start_matches("0x");
    let bytes = alloy_primitives::hex::decode(hex)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| NodeError::Config(format!("{what}: not a 32-byte hex key")))?;
    Ok(Some(bytes))
}

/// The operator's key and the committee's keys, from the configuration (or the dev
/// mnemonic on a devnet).
fn keys(config: &crate::config::NodeConfig) -> Result<([u8; 32], Vec<SigningKey>), NodeError> {
    let s = &config.settlement;
    let operator = match read_key(
        s.operator_key_env.as_deref(),
        s.operator_key_file.as_deref(),
        "settlement.operator_key",
    )? {
        Some(key) => key,
        None if config.dev.keys_from_mnemonic => dev_key(DEV_OPERATOR),
        None => {
            return Err(NodeError::Config(
                "settlement needs the operator's key: set settlement.operator_key_env or settlement.operator_key_file".into(),
            ))
        }
    };
    let mut committee = Vec::new();
    for var in &s.committee_key_envs {
        committee.extend(read_key(Some(var), None, "settlement.committee_key_envs")?);
    }
    for file in &s.committee_key_files {
        committee.extend(read_key(
            None,
            Some(file),
            "settlement.committee_key_files",
        )?);
    }
    if committee.is_empty() {
        // The operator is an adversary the committee guards against (DESIGN §6, §9): it is
        // never the committee by default; only a devnet's public keys are.
        if !config.dev.keys_from_mnemonic {
            return Err(NodeError::Config(
                "settlement needs the committee's keys: set settlement.committee_key_envs or settlement.committee_key_files (the operator's key is never the committee by default)".into(),
            ));
        }
        committee.push(dev_key(DEV_COMMITTEE));
    }
    let committee = committee
        .iter()
        .map(|k| {
            SigningKey::from_bytes(k.into()).map_err(|_| {
                NodeError::Config("a committee key is not a valid secp256k1 key".into())
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((operator, committee))
}

/// Everything settlement runs; dropping it stops the miners and the chain servers.
pub struct Settlement {
    /// Each embedded chain's JSON-RPC address, by chain name.
    pub endpoints: BTreeMap<String, SocketAddr>,
    /// The operator's address.
    pub operator: Address,
    /// The committee's addresses.
    pub committee: Vec<Address>,
    _miners: Vec<MinerHandle>,
    servers: Vec<jsonrpsee::server::ServerHandle>,
    arbiter: Arbiter,
}

impl std::fmt::Debug for Settlement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settlement")
            .field("endpoints", &self.endpoints)
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

impl Settlement {
    /// Stops the chain servers (the miners stop when it is dropped).
    pub async fn stop(self) {
        self.arbiter.stop();
        for server in &self.servers {
            let _ = server.stop();
        }
        for server in self.servers {
            server.stopped().await;
        }
    }
}

/// What settlement is started from.
pub struct SettlementInputs<'a> {
    /// The node's configuration.
    pub config: &'a crate::config::NodeConfig,
    /// The node's storage: the settler's records, the senders' rows, the watchers' cursors.
    pub storage: Arc<dyn Storage>,
    /// The configured chains, built.
    pub chains: Chains,
    /// Where their contracts are.
    pub deployment: &'a Deployment,
    /// Sealed blocks.
    pub blocks: BlockStore,
    /// The prover's proofs.
    pub proofs: ProofStore,
    /// Where priority ops go.
    pub mempool: MempoolHandle,
    /// Where stage changes are announced.
    pub events: StageEvents,
}

fn reader(built: &BuiltChain, deployment: &Deployment) -> Result<ContractReader, NodeError> {
    let deployed = deployment.chains.get(&built.spec.name).ok_or_else(|| {
        NodeError::Config(format!(
            "chain `{}` is not in the deployment file",
            built.spec.name
        ))
    })?;
    Ok(ContractReader {
        name: built.spec.name.clone(),
        chain: built.chain.clone(),
        address: deployed.settlement,
        finality: built.spec.finality,
    })
}

/// Starts everything settlement needs. Must run inside an actix `System`.
pub async fn start(inputs: SettlementInputs<'_>) -> Result<Settlement, NodeError> {
    let SettlementInputs {
        config,
        storage,
        chains,
        deployment,
        blocks,
        proofs,
        mempool,
        events,
    } = inputs;
    let s = &config.settlement;
    let period = Duration::from_millis(s.step_interval_ms.max(10));
    // The settlement actors run on a thread of their own: a chain call that takes long
    // (estimating a proof's verification on the embedded primary runs the verifier) holds
    // them, never the mempool, the block builder or the RPC.
    let arbiter = Arbiter::new();
    let spawn = |step: Box<dyn FnOnce() + Send>| {
        let _ = arbiter.spawn_fn(step);
    };

    // The embedded chains: their block timers and their JSON-RPC servers.
    let miners = chains.start_miners();
    let mut endpoints = BTreeMap::new();
    let mut servers = Vec::new();
    for (name, (chain, keys)) in &chains.embedded {
        if let Some(addr) = keys.rpc {
            let (bound, handle) = manyfold_chain_embedded::serve(
                chain.clone(),
                addr,
                manyfold_chain_embedded::RpcLimits::default(),
            )
            .await
            .map_err(|e| NodeError::Config(format!("chain `{name}`: JSON-RPC on {addr}: {e}")))?;
            tracing::info!(chain = %name, addr = %bound, "chain JSON-RPC listening");
            endpoints.insert(name.clone(), bound);
            servers.push(handle);
        }
    }

    let (operator_key, committee_keys) = keys(config)?;
    let signer: Arc<dyn TxSigner> = Arc::new(
        LocalSigner::from_bytes(&operator_key)
            .map_err(|e| NodeError::Config(format!("the operator's key: {e}")))?,
    );
    let operator = signer.address();
    let genesis_root = manyfold_types::field::fr_from_be_bytes(&deployment.genesis_state_root.0)
        .map_err(|e| NodeError::Config(format!("the deployment's genesis root: {e}")))?;

    // One durable sender per chain, and what each chain's receiver is.
    let mut senders: BTreeMap<String, SharedSender> = BTreeMap::new();
    let mut receivers: BTreeMap<String, Receiver> = BTreeMap::new();
    for built in &chains.built {
        let name = &built.spec.name;
        let deployed = deployment.chains.get(name).ok_or_else(|| {
            NodeError::Config(format!("chain `{name}` is not in the deployment file"))
        })?;
        let evm_chain_id = built
            .chain
            .chain_id()
            .await
            .map_err(|e| NodeError::Config(format!("chain `{name}`: {e}")))?;
        if evm_chain_id != deployed.evm_chain_id {
            return Err(NodeError::Config(format!(
                "chain `{name}` reports EVM chain id {evm_chain_id}, the deployment was made on {}",
                deployed.evm_chain_id
            )));
        }
        let mut sender_config = SenderConfig::new(
            name.clone(),
            evm_chain_id,
            operator,
            u128::from(s.max_fee_per_gas),
            u128::from(s.max_priority_fee_per_gas),
        );
        sender_config.finality = built.spec.finality;
        sender_config.max_in_flight = s.max_in_flight;
        sender_config.gas.max_gas_limit = s.max_gas_limit;
        let sender = DurableSender::open(
            storage.clone(),
            built.chain.clone(),
            signer.clone(),
            sender_config,
        )
        .await
        .map_err(|e| NodeError::Config(format!("chain `{name}`: its sender: {e}")))?;
        let shared = SharedSender::new(sender);
        let driver = SenderDriver::new(shared.clone());
        spawn(Box::new(move || {
            StepActor::new(driver, period).start();
        }));
        senders.insert(name.clone(), shared);
        receivers.insert(
            name.clone(),
            Receiver {
                evm_chain_id,
                contract: deployed.settlement,
            },
        );
    }

    let records = Records::new(storage.clone());
    let block_source: Arc<dyn manyfold_settler::BlockSource> = Arc::new(blocks);
    let primary = chains
        .built
        .iter()
        .find(|c| c.spec.primary)
        .ok_or_else(|| NodeError::Config("no primary chain".into()))?;
    let primary_reader = reader(primary, deployment)?;
    let primary_sender = senders[&primary.spec.name].clone();
    let settler = PrimarySettler::open(
        PrimaryConfig {
            chain: primary.spec.id,
            chain_count: chains.built.len(),
            genesis_root,
            max_commits_per_step: s.max_commits_per_step,
            max_blocks_per_execute: s.max_blocks_per_execute,
            tamper_proofs: config.dev.tamper_proofs,
        },
        records.clone(),
        block_source.clone(),
        proofs,
        primary_reader.clone(),
        primary_sender.clone(),
    )
    .map_err(settler_err)?
    .with_events(events.clone());
    let holds = HoldStore::new(storage.clone());
    let settler_holds = holds.clone();
    spawn(Box::new(move || {
        StepActor::new(settler, period)
            .with_holds(settler_holds)
            .start();
    }));

    let committee = Committee::new(
        committee_keys,
        s.threshold,
        config.deploy.attestation_domain,
    )
    .map_err(|e| NodeError::Config(format!("settlement committee: {e}")))?;
    let committee_addresses = committee.addresses();
    let transport: Arc<dyn SyncTransport> = Arc::new(committee);
    for built in chains.built.iter().filter(|c| !c.spec.primary) {
        let name = &built.spec.name;
        let sync = SyncSettler::open(
            SyncConfig {
                chain: built.spec.id,
                primary: primary.spec.id,
                genesis_root,
                primary_receiver: receivers[&primary.spec.name],
                receiver: receivers[name],
                max_blocks_per_step: s.max_commits_per_step.max(1).saturating_mul(16),
                max_blocks_per_commit: s.max_commits_per_step,
                max_blocks_per_execute: s.max_blocks_per_execute,
                tamper_commits: config.dev.tamper_secondary_commits,
            },
            records.clone(),
            block_source.clone(),
            SyncChains {
                secondary: reader(built, deployment)?,
                sender: senders[name].clone(),
                primary: primary_reader.clone(),
                primary_sender: primary_sender.clone(),
            },
            transport.clone(),
        )
        .map_err(settler_err)?
        .with_events(events.clone());
        let sync_holds = holds.clone();
        spawn(Box::new(move || {
            StepActor::new(sync, period).with_holds(sync_holds).start();
        }));
    }

    // The watchers: every chain's priority requests, read up to its finality rule.
    let watch_period = Duration::from_millis(s.watch_interval_ms.max(10));
    for built in &chains.built {
        let Some(deployed) = deployment.chains.get(&built.spec.name) else {
            return Err(NodeError::Config(format!(
                "chain `{}` is not in the deployment file",
                built.spec.name
            )));
        };
        let mut watcher_config = WatcherConfig::new(
            built.spec.name.clone(),
            built.spec.id,
            deployed.settlement,
            built.spec.finality,
        );
        watcher_config.poller = PollerOptions {
            start_block: deployed.from_block,
            max_range: s.max_log_range.max(1),
            ..PollerOptions::default()
        };
        let chain_reader: Arc<dyn ChainReader> = built.chain.clone();
        let watcher = PriorityWatcher::open(storage.clone(), chain_reader, watcher_config)
            .map_err(|e| NodeError::Config(format!("chain `{}`: watcher: {e}", built.spec.name)))?;
        let step = WatcherStep {
            watcher,
            mempool: mempool.clone(),
        };
        spawn(Box::new(move || {
            StepActor::new(step, watch_period).start();
        }));

        // How close the chain's oldest open request is to its expiry (exodus).
        let margin = s
            .expiry_warning_s
            .unwrap_or(config.deploy.priority_expiry_s / 4);
        let expiry = ExpiryWatch::new(reader(built, deployment)?, deployed.from_block, margin);
        spawn(Box::new(move || {
            StepActor::new(expiry, watch_period.saturating_mul(4)).start();
        }));
    }

    tracing::info!(
        %operator,
        committee = ?committee_addresses,
        chains = chains.built.len(),
        "settlement started"
    );
    Ok(Settlement {
        endpoints,
        operator,
        committee: committee_addresses,
        _miners: miners,
        servers,
        arbiter,
    })
}

fn settler_err(e: SettlerError) -> NodeError {
    NodeError::Config(format!("settlement: {e}"))
}

/// A chain's priority watcher as a [`Step`]: hands new priority ops to the mempool, then
/// commits the batch (a crash in between hands them out again; the mempool refuses what
/// it already has).
struct WatcherStep {
    watcher: PriorityWatcher,
    mempool: MempoolHandle,
}

impl Step for WatcherStep {
    fn name(&self) -> String {
        format!("watcher ({})", self.watcher.config().chain_name)
    }

    async fn step(&mut self) -> Result<u32, SettlerError> {
        let chain = self.watcher.config().chain_name.clone();
        let event = self.watcher.poll().await.map_err(|e| match e {
            WatcherError::Stopped { .. } => SettlerError::Mismatch {
                chain: chain.clone(),
                reason: e.to_string(),
            },
            other => SettlerError::Watcher(other.to_string()),
        })?;
        match event {
            WatcherEvent::Ops(batch) => {
                for op in &batch.ops {
                    match self.mempool.submit_priority(*op).await {
                        Ok(()) | Err(MempoolError::DuplicatePriority { .. }) => {}
                        Err(e) => {
                            return Err(SettlerError::Watcher(format!(
                                "chain `{chain}`: the mempool refused priority op {}: {e}",
                                op.reference().serial_id
                            )))
                        }
                    }
                }
                let count = batch.ops.len() as u32;
                if count > 0 {
                    tracing::info!(chain = %chain, ops = count, next_serial = batch.next_serial, "priority ops handed to the mempool");
                }
                self.watcher
                    .commit(&batch)
                    .map_err(|e| SettlerError::Watcher(e.to_string()))?;
                Ok(count)
            }
            WatcherEvent::Reorg(reorg) => {
                tracing::warn!(chain = %chain, ?reorg, "reorg below the watcher's cursor; rewound");
                Ok(0)
            }
            WatcherEvent::Idle => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operator is an adversary the committee guards against: outside a devnet, a
    /// node with no committee keys configured refuses to start rather than let the
    /// operator's key attest (finding of the issue 11 review).
    #[test]
    fn the_operator_is_never_the_committee_by_default() {
        let var = "MANYFOLD_TEST_OPERATOR_KEY_SETTLEMENT";
        std::env::set_var(var, format!("0x{}", "11".repeat(32)));
        let mut config = crate::config::NodeConfig::default();
        config.settlement.operator_key_env = Some(var.into());
        let err = keys(&config).unwrap_err().to_string();
        assert!(err.contains("committee"), "{err}");

        // Named explicitly, the same key is accepted (an operator may choose it).
        config.settlement.committee_key_envs = vec![var.into()];
        let (operator, committee) = keys(&config).unwrap();
        assert_eq!(operator, [0x11; 32]);
        assert_eq!(committee.len(), 1);

        // A devnet takes its committee from the public mnemonic, never the operator's.
        let devnet = crate::config::NodeConfig::devnet();
        let (operator, committee) = keys(&devnet).unwrap();
        assert_eq!(operator, dev_key(DEV_OPERATOR));
        assert_eq!(committee[0].to_bytes().as_slice(), dev_key(DEV_COMMITTEE));
    }
}
