//! `manyfold deploy`: the settlement contracts on every configured chain, once.
//!
//! On the primary: the Poseidon contract, the verifier pinned to the verifying key's
//! digest, and the Primary; on each secondary a Secondary. Every settlement contract is
//! constructed with the committee and the rollup's genesis, then gets the configured tokens
//! registered. The addresses go to a deployment file that the node reads.
//!
//! Every transaction goes through the chain's durable sender (DESIGN §7), whose store lives
//! under `<data_dir>/deploy`. Before the first transaction of a chain is stored, the
//! chain's whole plan is fixed and recorded with the nonce it starts at: contract addresses
//! follow from (deployer, nonce), so the plan needs no answer from the chain. A re-run finds
//! the plan, checks that the configuration still produces it, stores only the steps not
//! stored yet and waits for the rest: a step is never sent twice, whatever instruction the
//! previous run was killed at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::{SolCall, SolConstructor, SolValue};
use manyfold_chain::{BuiltChain, Chain};
use manyfold_contracts::bindings::{Artifact, Primary, Secondary};
use manyfold_sender::{
    Confirmation, DurableSender, NewTx, SenderConfig, SenderError, TxId, TxSigner, TxState,
};
use manyfold_storage::{Codec, Storage, StorageExt, Table, WriteBatch};
use manyfold_types::block::fr_to_b256;
use serde::{Deserialize, Serialize};

/// Gas for each creation: the chain interface estimates calls of a callee only, so
/// creations carry fixed limits, measured on the artifacts with room to spare (the Primary
/// is close to the 24 KiB code limit: about 5.3M gas to deploy).
const CREATE_GAS: [(Artifact, u64); 5] = [
    (Artifact::PoseidonT5, 6_000_000),
    (Artifact::PrecompileVerifier, 1_500_000),
    (Artifact::Primary, 9_000_000),
    (Artifact::Secondary, 9_000_000),
    // About 415k plus 30k per holder: room for some thirty holders.
    (Artifact::DevToken, 1_500_000),
];

fn create_gas(artifact: Artifact) -> u64 {
    CREATE_GAS
        .iter()
        .find(|(a, _)| *a == artifact)
        .map(|(_, gas)| *gas)
        .expect("every artifact has a creation gas limit")
}

/// The `[deploy]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// The deployer's key, hex, in this environment variable (never logged).
    pub deployer_key_env: Option<String>,
    /// The deployer's key, hex, in this file (readable by its owner only).
    pub deployer_key_file: Option<PathBuf>,
    /// The digest of the verifying key the primary's verifier is pinned to; computed from
    /// the prover's parameters when absent (a setup, which may take minutes the first time).
    pub verifying_key_digest: Option<B256>,
    /// The operator account allowed to settle; the deployer when absent.
    pub operator: Option<Address>,
    /// The committee (DESIGN §6); the deployer alone (1-of-1, a devnet's) when empty.
    pub committee: Vec<Address>,
    /// Signatures the committee needs.
    pub threshold: u64,
    /// Separates this deployment's attestations from any other's.
    pub attestation_domain: B256,
    /// Seconds a priority request may wait before exodus can be forced.
    pub priority_expiry_s: u64,
    /// Seconds a governance change waits; at least `priority_expiry_s`.
    pub governance_delay_s: u64,
    /// The fee of a priority request, in the chain's native coin (wei).
    pub priority_fee_wei: U256,
    /// Priority requests no committed block has consumed yet, at most.
    pub max_open_priority_requests: u64,
    /// Hard cap on `maxFeePerGas` for the deployment's transactions (wei; figment reads
    /// no integer wider than 64 bits, and 18 ETH per gas is no cap anyone needs).
    pub max_fee_per_gas: u64,
    /// Hard cap on `maxPriorityFeePerGas` (wei).
    pub max_priority_fee_per_gas: u64,
    /// How long to wait for a chain's transactions to be final, in seconds.
    pub timeout_s: u64,
    /// The L2 tokens and what each is on each chain.
    pub tokens: Vec<TokenConfig>,
    /// A development ERC-20 deployed on every chain and registered there (devnets only).
    #[serde(default)]
    pub dev_token: Option<DevTokenConfig>,
}

/// A development ERC-20 (`DevToken`), deployed first on every chain and registered under
/// one L2 token id, its supply minted to the holders at deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevTokenConfig {
    /// Its L2 token id.
    pub id: u16,
    /// Its ERC-20 name.
    pub name: String,
    /// Its ERC-20 symbol.
    pub symbol: String,
    /// Its decimals (at most the L2's 18).
    pub decimals: u8,
    /// Who gets `amount_each` local units at deployment.
    pub holders: Vec<Address>,
    /// Local units minted to each holder.
    pub amount_each: U256,
}

impl Default for DeployConfig {
    fn default() -> Self {
        Self {
            deployer_key_env: None,
            deployer_key_file: None,
            verifying_key_digest: None,
            operator: None,
            committee: Vec::new(),
            threshold: 1,
            attestation_domain: keccak256("manyfold"),
            priority_expiry_s: 7 * 24 * 3600,
            governance_delay_s: 7 * 24 * 3600,
            priority_fee_wei: U256::ZERO,
            max_open_priority_requests: 10_000,
            max_fee_per_gas: 500_000_000_000,
            max_priority_fee_per_gas: 10_000_000_000,
            timeout_s: 600,
            tokens: Vec::new(),
            dev_token: None,
        }
    }
}

/// One L2 token: its id and, per chain name, what it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The L2 token id.
    pub id: u16,
    /// Per chain name: the token there. A chain not named does not carry it.
    pub chains: BTreeMap<String, TokenOnChain>,
}

/// A token on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenOnChain {
    /// The ERC-20 contract; the zero address for the chain's native coin.
    pub address: Address,
    /// Its decimals on that chain (at most the L2's 18).
    pub decimals: u8,
    /// Deposits below this many local units are refused.
    #[serde(default)]
    pub min_deposit: u64,
}

/// What `manyfold deploy` wrote: read by the node for each chain's contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// The verifying key the primary's verifier is pinned to.
    pub verifying_key_digest: B256,
    /// The L2 state root of block 0.
    pub genesis_state_root: B256,
    /// Per chain name.
    pub chains: BTreeMap<String, DeployedChain>,
}

/// The contracts of one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployedChain {
    /// Rollup chain id.
    pub id: u16,
    /// The EVM chain id the chain reported.
    pub evm_chain_id: u64,
    /// Whether it is the primary.
    pub primary: bool,
    /// The deploying account.
    pub deployer: Address,
    /// The settlement contract (Primary or Secondary).
    pub settlement: Address,
    /// The Poseidon contract (primary only).
    pub poseidon: Option<Address>,
    /// The verifier (primary only).
    pub verifier: Option<Address>,
    /// The block of the settlement contract's creation: where watchers start reading.
    pub from_block: u64,
    /// The tokens registered on it, with their decimals there: what a withdrawal to this
    /// chain may pay out.
    #[serde(default)]
    pub tokens: Vec<DeployedToken>,
}

/// A token registered on a chain's settlement contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployedToken {
    /// The L2 token id.
    pub id: u16,
    /// The token there (zero for the native coin).
    pub address: Address,
    /// Its decimals there.
    pub decimals: u8,
}

impl Deployment {
    /// What each chain can pay out, for the mempool's withdrawal checks.
    pub fn token_registry(&self) -> manyfold_mempool::TokenRegistry {
        let mut registry = manyfold_mempool::TokenRegistry::new();
        for chain in self.chains.values() {
            let Ok(id) = manyfold_types::ChainId::new(chain.id) else {
                continue;
            };
            for token in &chain.tokens {
                if let Ok(token_id) = manyfold_types::TokenId::new(token.id) {
                    registry.register(id, token_id, token.decimals);
                }
            }
        }
        registry
    }
}

impl Deployment {
    /// Reads a deployment file.
    pub fn read(path: &Path) -> Result<Self, DeployError> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DeployError::Missing(path.display().to_string()),
            _ => DeployError::File(format!("{}: {e}", path.display())),
        })?;
        serde_json::from_str(&text)
            .map_err(|e| DeployError::File(format!("{}: {e}", path.display())))
    }

    /// Writes it whole or not at all (a temporary file renamed over the old one).
    pub fn write(&self, path: &Path) -> Result<(), DeployError> {
        let io = |e: std::io::Error| DeployError::File(format!("{}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).expect("plain data serializes");
        std::fs::write(&tmp, text + "\n").map_err(io)?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// Why a deployment stopped. Nothing already sent is lost: a re-run continues.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The configuration cannot be deployed.
    #[error("deploy configuration: {0}")]
    Config(String),
    /// The configuration changed since a previous run fixed the plan of a chain.
    #[error("chain `{chain}`: the deployment configuration changed since the run that started deploying there (plan started at nonce {base_nonce}); restore it, or deploy with a fresh data directory and another deployer")]
    PlanChanged {
        /// The chain.
        chain: String,
        /// Where its plan started.
        base_nonce: u64,
    },
    /// A step reverted or its nonce was used by another transaction.
    #[error("chain `{chain}`: step `{step}` failed: {reason}")]
    StepFailed {
        /// The chain.
        chain: String,
        /// The step's label.
        step: String,
        /// What happened.
        reason: String,
    },
    /// The chain's transactions were not final in time; a re-run continues.
    #[error("chain `{chain}`: {done} of {total} steps final after {waited:?}; run deploy again to continue")]
    Timeout {
        /// The chain.
        chain: String,
        /// Final steps.
        done: usize,
        /// All steps.
        total: usize,
        /// How long this run waited.
        waited: Duration,
    },
    /// The durable sender failed.
    #[error("chain `{chain}`: {source}")]
    Sender {
        /// The chain.
        chain: String,
        /// The failure.
        source: SenderError,
    },
    /// The deploy store failed.
    #[error("deploy store: {0}")]
    Storage(#[from] manyfold_storage::StorageError),
    /// The deployment file could not be read, written or parsed.
    #[error("deployment file {0}")]
    File(String),
    /// There is no deployment file.
    #[error("no deployment file at {0}")]
    Missing(String),
}

/// The plan of one chain, recorded before its first step is stored.
struct Plans;

impl Table for Plans {
    const NAME: &'static str = "deploy.plans";
    /// The EVM chain id and the deployer, as the durable sender's namespace: not the
    /// chain's name, which an operator may change between runs.
    type Key = Vec<u8>;
    type Value = RecordedPlan;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordedPlan {
    base_nonce: u64,
    digest: B256,
}

impl Codec for RecordedPlan {
    fn encode(&self) -> Vec<u8> {
        let mut out = self.base_nonce.to_be_bytes().to_vec();
        out.extend_from_slice(self.digest.as_slice());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, manyfold_storage::CodecError> {
        if bytes.len() != 40 {
            return Err(manyfold_storage::CodecError::Length {
                expected: 40,
                actual: bytes.len(),
            });
        }
        Ok(Self {
            base_nonce: u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
            digest: B256::from_slice(&bytes[8..]),
        })
    }
}

/// One transaction of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What it is, e.g. `"deploy Primary"`.
    pub label: String,
    /// The request.
    pub tx: NewTx,
    /// The contract it creates, for a creation.
    pub creates: Option<Address>,
}

/// Everything that fixes the contracts' constructor arguments.
#[derive(Debug, Clone)]
pub struct Genesis {
    /// How many chains settle the L2.
    pub chain_count: u16,
    /// The primary's rollup id.
    pub primary: u16,
    /// The L2 state root of block 0.
    pub state_root: B256,
    /// The verifying key's digest.
    pub verifying_key_digest: B256,
}

impl Genesis {
    /// The genesis of a rollup over `chain_count` chains: an empty state (its root does not
    /// depend on the chains' domains), the pubdata commitment 0.
    pub fn new(chain_count: u16, primary: u16, verifying_key_digest: B256) -> Self {
        let chains = manyfold_types::ChainSet::local(usize::from(chain_count));
        Self {
            chain_count,
            primary,
            state_root: fr_to_b256(&manyfold_state::L2State::new(chains).root()),
            verifying_key_digest,
        }
    }
}

/// The steps deploying chain `chain` (rollup id `id`) from `deployer` starting at nonce
/// `base_nonce`. Pure: the same inputs give the same plan, which is what lets a re-run
/// check that it continues the same deployment.
pub fn plan(
    config: &DeployConfig,
    genesis: &Genesis,
    chain: &str,
    id: u16,
    deployer: Address,
    base_nonce: u64,
) -> Result<Vec<Step>, DeployError> {
    let settlement_config = Primary::SettlementConfig {
        chainId: id,
        governor: deployer,
        operator: config.operator.unwrap_or(deployer),
        priorityExpiry: config.priority_expiry_s,
        attestationDomain: config.attestation_domain,
        validators: if config.committee.is_empty() {
            vec![deployer]
        } else {
            config.committee.clone()
        },
        threshold: U256::from(config.threshold),
        genesisStateRoot: genesis.state_root,
        governanceDelay: config.governance_delay_s,
        priorityFee: config.priority_fee_wei,
        maxOpenPriorityRequests: config.max_open_priority_requests,
    };
    let mut steps = Vec::new();
    let create = |artifact: Artifact, args: Vec<u8>, steps: &mut Vec<Step>| {
        let nonce = base_nonce + steps.len() as u64;
        let address = deployer.create(nonce);
        let mut code = artifact.bytecode().to_vec();
        code.extend(args);
        let label = format!("deploy {artifact:?}");
        steps.push(Step {
            tx: NewTx::create(label.clone(), code, create_gas(artifact)),
            label,
            creates: Some(address),
        });
        address
    };
    let dev_token = config.dev_token.as_ref().map(|token| {
        create(
            Artifact::DevToken,
            manyfold_contracts::bindings::DevToken::constructorCall {
                name_: token.name.clone(),
                symbol_: token.symbol.clone(),
                decimals_: token.decimals,
                holders: token.holders.clone(),
                amountEach: token.amount_each,
            }
            .abi_encode(),
            &mut steps,
        )
    });
    let settlement = if id == genesis.primary {
        let poseidon = create(Artifact::PoseidonT5, Vec::new(), &mut steps);
        let verifier = create(
            Artifact::PrecompileVerifier,
            (genesis.verifying_key_digest,).abi_encode_params(),
            &mut steps,
        );
        let args = (
            settlement_config,
            genesis.chain_count,
            verifier,
            poseidon,
            B256::ZERO,
        )
            .abi_encode_params();
        create(Artifact::Primary, args, &mut steps)
    } else {
        let config = Secondary::SettlementConfig {
            chainId: settlement_config.chainId,
            governor: settlement_config.governor,
            operator: settlement_config.operator,
            priorityExpiry: settlement_config.priorityExpiry,
            attestationDomain: settlement_config.attestationDomain,
            validators: settlement_config.validators,
            threshold: settlement_config.threshold,
            genesisStateRoot: settlement_config.genesisStateRoot,
            governanceDelay: settlement_config.governanceDelay,
            priorityFee: settlement_config.priorityFee,
            maxOpenPriorityRequests: settlement_config.maxOpenPriorityRequests,
        };
        create(
            Artifact::Secondary,
            (config, genesis.primary).abi_encode_params(),
            &mut steps,
        )
    };
    for token in &config.tokens {
        let Some(here) = token.chains.get(chain) else {
            continue;
        };
        let call = Primary::addTokenCall {
            tokenId: token.id,
            token: here.address,
            decimals: here.decimals,
            minDeposit: u128::from(here.min_deposit),
        };
        let label = format!("add token {}", token.id);
        steps.push(Step {
            tx: NewTx::call(label.clone(), settlement, call.abi_encode()).with_gas_limit(200_000),
            label,
            creates: None,
        });
    }
    if let (Some(token), Some(address)) = (&config.dev_token, dev_token) {
        let call = Primary::addTokenCall {
            tokenId: token.id,
            token: address,
            decimals: token.decimals,
            minDeposit: 0,
        };
        let label = format!("add token {}", token.id);
        steps.push(Step {
            tx: NewTx::call(label.clone(), settlement, call.abi_encode()).with_gas_limit(200_000),
            label,
            creates: None,
        });
    }
    Ok(steps)
}

/// A digest of a plan's requests, recorded with it.
fn plan_digest(steps: &[Step]) -> B256 {
    let mut bytes = Vec::new();
    for step in steps {
        bytes.extend_from_slice(step.label.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(step.tx.to.unwrap_or_default().as_slice());
        bytes.extend_from_slice(&keccak256(&step.tx.calldata).0);
        bytes.extend_from_slice(&step.tx.gas_limit.unwrap_or_default().to_be_bytes());
    }
    keccak256(bytes)
}

/// Deploys on one chain (resuming what a previous run left), waiting until every step is
/// final under the chain's rule. Returns its contracts.
///
/// `in_file` says whether the deployment file already records this chain (by EVM chain
/// id): without the plan that deployed it in `store`, deploying again would deploy twice,
/// so it is refused.
pub async fn deploy_chain(
    store: Arc<dyn Storage>,
    built: &BuiltChain,
    in_file: bool,
    signer: Arc<dyn TxSigner>,
    config: &DeployConfig,
    genesis: &Genesis,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<DeployedChain, DeployError> {
    let name = built.spec.name.clone();
    let id = built.spec.id.get();
    let chain: Arc<dyn Chain> = built.chain.clone();
    let sender_err = |source| DeployError::Sender {
        chain: name.clone(),
        source,
    };
    let evm_chain_id = chain
        .chain_id()
        .await
        .map_err(|e| sender_err(SenderError::Chain(e)))?;
    let deployer = signer.address();
    let mut sender_config = SenderConfig::new(
        name.clone(),
        evm_chain_id,
        deployer,
        u128::from(config.max_fee_per_gas),
        u128::from(config.max_priority_fee_per_gas),
    );
    sender_config.finality = built.spec.finality;
    sender_config.gas.max_gas_limit = sender_config
        .gas
        .max_gas_limit
        .max(CREATE_GAS.iter().map(|(_, g)| *g).max().unwrap_or_default());
    let mut sender = DurableSender::open(store.clone(), chain.clone(), signer, sender_config)
        .await
        .map_err(sender_err)?;

    let plan_key = [&evm_chain_id.to_be_bytes()[..], deployer.as_slice()].concat();
    let recorded = store.get::<Plans>(&plan_key)?;
    let base_nonce = recorded.map_or(sender.status().next_nonce, |r| r.base_nonce);
    let steps = plan(config, genesis, &name, id, deployer, base_nonce)?;
    let digest = plan_digest(&steps);
    match recorded {
        Some(r) if r.digest != digest => {
            return Err(DeployError::PlanChanged {
                chain: name,
                base_nonce,
            })
        }
        Some(_) => tracing::info!(chain = %name, base_nonce, "continuing a deployment"),
        None if in_file => {
            return Err(DeployError::Config(format!(
                "chain `{name}` (EVM chain id {evm_chain_id}) is already in the deployment file, but the deploy store has no plan for it: refusing to deploy twice (restore {}'s deploy store, or remove the chain from the deployment file to deploy anew)",
                "the data directory"
            )))
        }
        None => {
            let mut batch = WriteBatch::new();
            batch.put::<Plans>(
                &plan_key,
                &RecordedPlan { base_nonce, digest },
            );
            store.commit(batch)?;
            tracing::info!(chain = %name, base_nonce, steps = steps.len(), %deployer, "deploying");
        }
    }
    for (k, step) in steps.iter().enumerate() {
        let nonce = base_nonce + k as u64;
        match sender.request(TxId(nonce)).map_err(sender_err)? {
            Some(view) if view.tx.label == step.label => continue,
            Some(view) => {
                return Err(DeployError::StepFailed {
                    chain: name,
                    step: step.label.clone(),
                    reason: format!("nonce {nonce} holds `{}` instead", view.tx.label),
                })
            }
            None => {}
        }
        // Checked before storing: a request stored at another nonce would stay there and
        // be sent, whatever this run decides next.
        let next = sender.status().next_nonce;
        if next != nonce {
            return Err(DeployError::StepFailed {
                chain: name,
                step: step.label.clone(),
                reason: format!(
                    "planned at nonce {nonce}, but the deployer's next nonce is {next}: was the deployer key used elsewhere since the plan was made?"
                ),
            });
        }
        let got = sender.enqueue(step.tx.clone()).map_err(sender_err)?;
        if got != TxId(nonce) {
            // Only another writer of this deployer's store could cause this.
            return Err(DeployError::StepFailed {
                chain: name,
                step: step.label.clone(),
                reason: format!("stored at nonce {} instead of {nonce}", got.nonce()),
            });
        }
    }

    let started = Instant::now();
    let timeout = Duration::from_secs(config.timeout_s);
    let mut from_block = None;
    loop {
        let report = sender.tick().await.map_err(sender_err)?;
        if let Some(e) = report.deferred {
            tracing::warn!(chain = %name, error = %e, "deploy: the chain refused a step for now; retrying");
        }
        let mut done = 0;
        for (k, step) in steps.iter().enumerate() {
            let view = sender
                .request(TxId(base_nonce + k as u64))
                .map_err(sender_err)?;
            match view.map(|v| v.tx.state) {
                Some(TxState::Included(inclusion)) => {
                    if inclusion.confirmation == Confirmation::Finalized {
                        done += 1;
                    }
                    if step.label == "deploy Primary" || step.label == "deploy Secondary" {
                        from_block = Some(inclusion.block_number);
                    }
                }
                Some(TxState::Reverted(inclusion)) => {
                    return Err(DeployError::StepFailed {
                        chain: name,
                        step: step.label.clone(),
                        reason: format!("reverted in transaction {}", inclusion.tx),
                    })
                }
                Some(TxState::Lost) => {
                    return Err(DeployError::StepFailed {
                        chain: name,
                        step: step.label.clone(),
                        reason: "another transaction of the deployer used its nonce".into(),
                    })
                }
                Some(TxState::Unconfirmed) | None => {}
            }
        }
        progress(&name, done, steps.len());
        if done == steps.len() {
            break;
        }
        if started.elapsed() > timeout {
            return Err(DeployError::Timeout {
                chain: name,
                done,
                total: steps.len(),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let created = |label: &str| {
        steps
            .iter()
            .find(|s| s.label == label)
            .and_then(|s| s.creates)
    };
    let primary = id == genesis.primary;
    let deployed = DeployedChain {
        id,
        evm_chain_id,
        primary,
        deployer,
        settlement: if primary {
            created("deploy Primary")
        } else {
            created("deploy Secondary")
        }
        .expect("every plan creates its settlement contract"),
        poseidon: created("deploy PoseidonT5"),
        verifier: created("deploy PrecompileVerifier"),
        from_block: from_block.expect("the settlement contract's step is final"),
        tokens: config
            .tokens
            .iter()
            .filter_map(|t| {
                t.chains.get(&name).map(|here| DeployedToken {
                    id: t.id,
                    address: here.address,
                    decimals: here.decimals,
                })
            })
            .chain(config.dev_token.as_ref().and_then(|t| {
                created("deploy DevToken").map(|address| DeployedToken {
                    id: t.id,
                    address,
                    decimals: t.decimals,
                })
            }))
            .collect(),
    };
    tracing::info!(chain = %name, settlement = %deployed.settlement, "deployed");
    Ok(deployed)
}

/// Deploys on every chain, primary first, writing `output` after each chain so that the
/// file always holds what is final.
pub async fn deploy_all(
    store: Arc<dyn Storage>,
    chains: &[BuiltChain],
    signer: Arc<dyn TxSigner>,
    config: &DeployConfig,
    verifying_key_digest: B256,
    output: &Path,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<Deployment, DeployError> {
    // Deploying needs no proof verification, so a primary opened without its verifying
    // key is fine here; the node checks the capability when it starts.
    let mut primaries = chains.iter().filter(|c| c.spec.primary);
    let (Some(primary), None) = (primaries.next(), primaries.next()) else {
        return Err(DeployError::Config(
            "exactly one chain must be primary".into(),
        ));
    };
    for token in &config.tokens {
        for name in token.chains.keys() {
            if !chains.iter().any(|c| &c.spec.name == name) {
                return Err(DeployError::Config(format!(
                    "token {} names chain `{name}`, which is not configured",
                    token.id
                )));
            }
        }
    }
    let count =
        u16::try_from(chains.len()).map_err(|_| DeployError::Config("too many chains".into()))?;
    let genesis = Genesis::new(count, primary.spec.id.get(), verifying_key_digest);
    let mut deployment = match Deployment::read(output) {
        Ok(d) if d.verifying_key_digest == verifying_key_digest => d,
        Ok(_) => {
            return Err(DeployError::Config(format!(
                "{} holds a deployment for another verifying key",
                output.display()
            )))
        }
        Err(DeployError::Missing(_)) => Deployment {
            verifying_key_digest,
            genesis_state_root: genesis.state_root,
            chains: BTreeMap::new(),
        },
        // A file that exists but cannot be read is not overwritten: it may be all that
        // records a deployment.
        Err(e) => return Err(e),
    };
    // One durable sender (and one plan) per (EVM chain id, deployer): two configured
    // chains answering the same id would share a nonce space.
    let mut ids = BTreeMap::new();
    for built in chains {
        let id = built
            .chain
            .chain_id()
            .await
            .map_err(|e| DeployError::Sender {
                chain: built.spec.name.clone(),
                source: SenderError::Chain(e),
            })?;
        if let Some(other) = ids.insert(id, built.spec.name.clone()) {
            return Err(DeployError::Config(format!(
                "chains `{other}` and `{}` both report EVM chain id {id}",
                built.spec.name
            )));
        }
    }
    let mut order: Vec<&BuiltChain> = chains.iter().collect();
    order.sort_by_key(|c| (!c.spec.primary, c.spec.id));
    for built in order {
        let evm_chain_id = ids
            .iter()
            .find(|(_, name)| **name == built.spec.name)
            .map(|(id, _)| *id)
            .expect("every chain's id was read");
        let earlier: Vec<String> = deployment
            .chains
            .iter()
            .filter(|(_, d)| d.evm_chain_id == evm_chain_id)
            .map(|(name, _)| name.clone())
            .collect();
        let deployed = deploy_chain(
            store.clone(),
            built,
            !earlier.is_empty(),
            signer.clone(),
            config,
            &genesis,
            &mut progress,
        )
        .await?;
        // A chain renamed since: its record moves to the new name.
        for name in earlier {
            deployment.chains.remove(&name);
        }
        deployment.chains.insert(built.spec.name.clone(), deployed);
        deployment.write(output)?;
    }
    Ok(deployment)
}

/// `manyfold deploy`: builds the configured chains, finds the verifying key's digest
/// (configured, or from the prover's parameters, set up if need be), and deploys on every
/// chain, resuming a previous run. `progress(chain, final steps, steps)` is called after
/// every look at a chain.
pub async fn run(
    config: &crate::config::NodeConfig,
    progress: impl FnMut(&str, usize, usize),
) -> Result<Deployment, DeployError> {
    let specs = config
        .chain_specs()
        .map_err(|e| DeployError::Config(e.to_string()))?;
    if specs.is_empty() {
        return Err(DeployError::Config(
            "no [chains.NAME] sections: nothing to deploy on".into(),
        ));
    }
    let (digest, verifier) = match config.deploy.verifying_key_digest {
        Some(digest) => (digest, None),
        None => {
            let params = crate::node::load_params(config, specs.len())
                .map_err(|e| DeployError::Config(e.to_string()))?;
            let vk = Arc::new(manyfold_prover::PinnedVk::new(params.vk));
            (B256::from(params.vk_digest), Some(vk))
        }
    };
    let chains = crate::chains::Chains::build(&specs, &config.data_dir, verifier)
        .map_err(|e| DeployError::Config(e.to_string()))?;
    // Timed embedded chains need their block timers while the deployment waits.
    let _miners = chains.start_miners();
    let key = match deployer_key(&config.deploy) {
        Err(DeployError::Config(_))
            if config.dev.keys_from_mnemonic
                && config.deploy.deployer_key_env.is_none()
                && config.deploy.deployer_key_file.is_none() =>
        {
            crate::settlement::dev_key(crate::settlement::DEV_DEPLOYER)
        }
        other => other?,
    };
    let signer: Arc<dyn TxSigner> = Arc::new(
        manyfold_sender::LocalSigner::from_bytes(&key)
            .map_err(|e| DeployError::Config(format!("the deployer's key: {e}")))?,
    );
    let dir = config.data_dir.join("deploy");
    let store: Arc<dyn Storage> = Arc::new(
        manyfold_storage::SledStorage::open(&dir)
            .map_err(|e| DeployError::Config(format!("{}: {e}", dir.display())))?,
    );
    deploy_all(
        store,
        &chains.built,
        signer,
        &config.deploy,
        digest,
        &config.deployment_path(),
        progress,
    )
    .await
}

/// The deployer's key from the `[deploy]` section: an environment variable or a file
/// readable by its owner only.
pub fn deployer_key(config: &DeployConfig) -> Result<[u8; 32], DeployError> {
    let text = match (&config.deployer_key_env, &config.deployer_key_file) {
        (Some(var), None) => std::env::var(var).map_err(|_| {
            DeployError::Config(format!("deploy.deployer_key_env: ${var} is not set"))
        })?,
        (None, Some(path)) => {
            check_private(path)?;
            std::fs::read_to_string(path).map_err(|e| {
                DeployError::Config(format!(
                    "deploy.deployer_key_file {}: {e}",
                    path.display()
                ))
            })?
        }
        _ => {
            return Err(DeployError::Config(
                "name the deployer's key with exactly one of deploy.deployer_key_env and deploy.deployer_key_file".into(),
            ))
        }
    };
    let hex = text.trim().trim_start_matches("0x");
    let mut key = [0u8; 32];
    alloy_primitives::hex::decode_to_slice(hex, &mut key)
        .map_err(|_| DeployError::Config("the deployer's key is not 32 bytes of hex".into()))?;
    Ok(key)
}

pub(crate) fn check_private(path: &Path) -> Result<(), DeployError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| DeployError::Config(format!("{}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(DeployError::Config(format!(
            "{} is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: u16, chain: &str, decimals: u8) -> TokenConfig {
        TokenConfig {
            id,
            chains: [(
                chain.to_owned(),
                TokenOnChain {
                    address: Address::ZERO,
                    decimals,
                    min_deposit: 1,
                },
            )]
            .into(),
        }
    }

    #[test]
    fn plans_are_fixed_by_their_inputs_and_predict_addresses() {
        let deployer = Address::repeat_byte(7);
        let config = DeployConfig {
            tokens: vec![token(0, "hub", 18), token(1, "side", 6)],
            ..DeployConfig::default()
        };
        let genesis = Genesis::new(2, 0, B256::repeat_byte(9));
        let hub = plan(&config, &genesis, "hub", 0, deployer, 5).unwrap();
        let labels: Vec<_> = hub.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "deploy PoseidonT5",
                "deploy PrecompileVerifier",
                "deploy Primary",
                "add token 0"
            ]
        );
        assert_eq!(hub[0].creates, Some(deployer.create(5)));
        assert_eq!(hub[2].creates, Some(deployer.create(7)));
        assert_eq!(
            hub[3].tx.to,
            Some(deployer.create(7)),
            "tokens go to the Primary"
        );
        let again = plan(&config, &genesis, "hub", 0, deployer, 5).unwrap();
        assert_eq!(plan_digest(&hub), plan_digest(&again));
        let later = plan(&config, &genesis, "hub", 0, deployer, 6).unwrap();
        assert_ne!(plan_digest(&hub), plan_digest(&later));

        let side = plan(&config, &genesis, "side", 1, deployer, 0).unwrap();
        let labels: Vec<_> = side.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["deploy Secondary", "add token 1"]);
        let other_committee = DeployConfig {
            committee: vec![Address::repeat_byte(1)],
            ..config.clone()
        };
        assert_ne!(
            plan_digest(&side),
            plan_digest(&plan(&other_committee, &genesis, "side", 1, deployer, 0).unwrap()),
            "a changed configuration is a changed plan"
        );
    }

    #[test]
    fn a_missing_file_is_not_a_broken_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deployment.json");
        assert!(matches!(
            Deployment::read(&path),
            Err(DeployError::Missing(_))
        ));
        std::fs::write(&path, "{ not json").unwrap();
        // deploy_all refuses to run over it rather than start a fresh record.
        assert!(matches!(Deployment::read(&path), Err(DeployError::File(_))));
    }

    #[test]
    fn plan_records_round_trip() {
        let record = RecordedPlan {
            base_nonce: 42,
            digest: B256::repeat_byte(3),
        };
        assert_eq!(RecordedPlan::decode(&record.encode()).unwrap(), record);
        assert!(RecordedPlan::decode(&[0; 39]).is_err());
    }

    #[test]
    fn deployer_keys_come_from_one_private_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, format!("0x{}\n", "11".repeat(32))).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let config = DeployConfig {
            deployer_key_file: Some(path.clone()),
            ..DeployConfig::default()
        };
        let err = deployer_key(&config).unwrap_err().to_string();
        assert!(err.contains("readable by others"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(deployer_key(&config).unwrap(), [0x11; 32]);
        let neither = DeployConfig::default();
        assert!(deployer_key(&neither).is_err());
    }
}
