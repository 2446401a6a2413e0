//! Node configuration: defaults, then a TOML file, then `MANYFOLD_` environment variables
//! (`__` separates nesting levels: `MANYFOLD_RPC__ADDR`), then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use manyfold_block_builder::BlockBuilderConfig;
use manyfold_mempool::MempoolConfig;
use manyfold_prover::ProverConfig;
use manyfold_rpc::RpcConfig;
use serde::{Deserialize, Serialize};

/// Everything the node is configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the node keeps its database.
    pub data_dir: PathBuf,
    /// JSON-RPC server.
    pub rpc: RpcConfig,
    /// Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// Mempool limits.
    pub mempool: MempoolConfig,
    /// Block sealing.
    pub block: BlockBuilderConfig,
    /// Folding prover.
    pub prover: ProverConfig,
    /// Actor plumbing.
    pub actors: ActorsConfig,
    /// Development switches.
    pub dev: DevConfig,
    /// Settlement chains: one `[chains.NAME]` section each, with `kind`, `id` (the rollup
    /// chain id), `primary`, `finality` and the plugin's own keys (`manyfold_chain`).
    pub chains: manyfold_chain::Table,
    /// The deployment file `manyfold deploy` writes and the node reads; default
    /// `<data_dir>/deployment.json`.
    pub deployment_file: Option<PathBuf>,
    /// `manyfold deploy`.
    pub deploy: crate::deploy::DeployConfig,
    /// The settlement actors: keys, pacing, fee caps.
    pub settlement: crate::settlement::SettlementConfig,
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Whether to serve it.
    pub enabled: bool,
    /// Where (`GET /metrics`).
    pub addr: SocketAddr,
}

/// Actor plumbing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorsConfig {
    /// How long a request to an actor may wait for its answer (milliseconds).
    pub request_timeout_ms: u64,
}

/// Development switches; all off for a production node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevConfig {
    /// Enables `manyfold_submitPriorityOp`, which stands in for chain watchers. Refused
    /// when chains are configured: their watchers are then the only source.
    pub allow_priority_injection: bool,
    /// Takes the deployer's, the operator's and the committee's keys from the public test
    /// mnemonic of the embedded chains (dev accounts 7, 8 and 9) when none is configured:
    /// for a local devnet only, where those keys are public anyway.
    #[serde(default)]
    pub keys_from_mnemonic: bool,
    /// Fault injection for tests: flips one byte of every proof as the primary settler
    /// submits it, playing a prover that hands out a forged proof (the primary must refuse
    /// it and the node must hold, not resend). Only with `keys_from_mnemonic` (a devnet).
    #[serde(default)]
    pub tamper_proofs: bool,
    /// Fault injection for tests: makes every secondary commit the node asks for one the
    /// contract refuses (the block it builds on misstated), playing a commit the operator
    /// cannot land on a secondary. Only with `keys_from_mnemonic` (a devnet).
    #[serde(default)]
    pub tamper_secondary_commits: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("manyfold-data"),
            rpc: RpcConfig::default(),
            metrics: MetricsConfig {
                enabled: true,
                addr: "127.0.0.1:9464".parse().expect("valid address"),
            },
            mempool: MempoolConfig::default(),
            block: BlockBuilderConfig::default(),
            prover: ProverConfig::default(),
            actors: ActorsConfig {
                request_timeout_ms: 5_000,
            },
            dev: DevConfig::default(),
            chains: manyfold_chain::Table::new(),
            deployment_file: None,
            deploy: crate::deploy::DeployConfig::default(),
            settlement: crate::settlement::SettlementConfig::default(),
        }
    }
}

impl NodeConfig {
    /// The `[chains.NAME]` sections, in rollup-id order (validated at load).
    pub fn chain_specs(&self) -> Result<Vec<manyfold_chain::ChainSpec>, ConfigError> {
        manyfold_chain::parse_chains(&self.chains)
            .map_err(|e| ConfigError::Invalid(format!("chains: {e}")))
    }

    /// Where the deployment file is.
    pub fn deployment_path(&self) -> PathBuf {
        self.deployment_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("deployment.json"))
    }

    /// The chain set the L2 state is fixed to (DESIGN §1): each configured chain's EVM
    /// chain id and settlement contract, from the deployment; for a node that settles
    /// nowhere, one local chain (id 0) so that it can still sequence deposits injected for
    /// development.
    pub fn chain_set(
        &self,
        deployment: Option<&crate::deploy::Deployment>,
    ) -> Result<manyfold_types::ChainSet, ConfigError> {
        let specs = self.chain_specs()?;
        if specs.is_empty() {
            return Ok(manyfold_types::ChainSet::local(1));
        }
        let deployment = deployment.ok_or_else(|| {
            ConfigError::Inconsistent(format!(
                "chains are configured but {} does not exist: run `manyfold deploy` first",
                self.deployment_path().display()
            ))
        })?;
        let domains = specs
            .iter()
            .map(|spec| {
                let deployed = deployment.chains.get(&spec.name).ok_or_else(|| {
                    ConfigError::Inconsistent(format!(
                        "chain `{}` is not in the deployment file: run `manyfold deploy` again",
                        spec.name
                    ))
                })?;
                if deployed.id != spec.id.get() || deployed.primary != spec.primary {
                    return Err(ConfigError::Inconsistent(format!(
                        "chain `{}` was deployed as id {} (primary: {}), the configuration says id {} (primary: {})",
                        spec.name, deployed.id, deployed.primary, spec.id, spec.primary
                    )));
                }
                Ok(manyfold_types::ChainDomain {
                    evm_chain_id: deployed.evm_chain_id,
                    settlement: deployed.settlement,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        manyfold_types::ChainSet::new(domains)
            .map_err(|e| ConfigError::Inconsistent(format!("chains: {e}")))
    }

    /// The defaults of `manyfold devnet`: three embedded chains in the node's process
    /// (`primary`, id 0, which verifies the proofs; `alpha`, id 1; `beta`, id 2), each
    /// serving Ethereum JSON-RPC (ports 8546, 8547, 8548; EVM chain ids 31337, 31338,
    /// 31339); contracts deployed with a dev ERC-20 (`DUSD`, L2 token 1, 6 decimals) beside
    /// the native coin (L2 token 0); the node's own keys from the public test mnemonic;
    /// proving on with an insecure local powers-of-tau setup.
    pub fn devnet() -> Self {
        let chain = |id: u16, primary: bool, port: u16| {
            serde_json::json!({
                "kind": "embedded",
                "id": id,
                "primary": primary,
                "finality": "finalized",
                "chain_id": 31_337 + u64::from(id),
                "rpc": format!("127.0.0.1:{port}"),
                "dev_accounts": 10,
            })
        };
        let mut chains = manyfold_chain::Table::new();
        chains.insert("primary".into(), chain(0, true, 8546));
        chains.insert("alpha".into(), chain(1, false, 8547));
        chains.insert("beta".into(), chain(2, false, 8548));
        let dev = |index: u32| {
            manyfold_sender::LocalSigner::from_bytes(&crate::settlement::dev_key(index))
                .map(|s| manyfold_sender::TxSigner::address(&s))
                .expect("dev keys are valid")
        };
        let native = crate::deploy::TokenConfig {
            id: 0,
            chains: ["primary", "alpha", "beta"]
                .into_iter()
                .map(|name| {
                    (
                        name.to_owned(),
                        crate::deploy::TokenOnChain {
                            address: alloy_primitives::Address::ZERO,
                            decimals: 18,
                            min_deposit: 0,
                        },
                    )
                })
                .collect(),
        };
        Self {
            data_dir: PathBuf::from("manyfold-devnet"),
            dev: DevConfig {
                allow_priority_injection: false,
                keys_from_mnemonic: true,
                tamper_proofs: false,
                tamper_secondary_commits: false,
            },
            prover: ProverConfig {
                enabled: true,
                insecure_devnet_setup: true,
                ..ProverConfig::default()
            },
            chains,
            deploy: crate::deploy::DeployConfig {
                operator: Some(dev(crate::settlement::DEV_OPERATOR)),
                committee: vec![dev(crate::settlement::DEV_COMMITTEE)],
                threshold: 1,
                // A devnet's users should not wait a week for anything.
                priority_expiry_s: 3_600,
                governance_delay_s: 3_600,
                tokens: vec![native],
                dev_token: Some(crate::deploy::DevTokenConfig {
                    id: 1,
                    name: "Dev USD".into(),
                    symbol: "DUSD".into(),
                    decimals: 6,
                    holders: (0..crate::settlement::DEV_DEPLOYER).map(dev).collect(),
                    amount_each: alloy_primitives::U256::from(1_000_000_000_000u64),
                }),
                ..crate::deploy::DeployConfig::default()
            },
            ..Self::default()
        }
    }
}

/// A configuration error; figment's message names the key and where its value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is missing, malformed or of the wrong type.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// The values are well-formed but contradict each other.
    #[error("inconsistent configuration: {0}")]
    Inconsistent(String),
}

/// The top-level keys, so that unrelated `MANYFOLD_*` variables are not read as config.
const TOP_LEVEL_KEYS: &[&str] = &[
    "data_dir",
    "rpc",
    "metrics",
    "mempool",
    "block",
    "prover",
    "actors",
    "dev",
    "chains",
    "deployment_file",
    "deploy",
    "settlement",
];

/// Loads the configuration from `base` defaults, an optional TOML file, the environment
/// and `overrides` (command-line flags), in increasing priority.
pub fn load(
    base: NodeConfig,
    file: Option<&Path>,
    overrides: &CliOverrides,
) -> Result<NodeConfig, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(base));
    if let Some(file) = file {
        if !file.exists() {
            return Err(ConfigError::Invalid(format!(
                "config file {} does not exist",
                file.display()
            )));
        }
        figment = figment.merge(Toml::file_exact(file));
    }
    figment = figment.merge(
        Env::prefixed("MANYFOLD_")
            .filter(|key| {
                let top = key.as_str().split("__").next().unwrap_or_default();
                TOP_LEVEL_KEYS.iter().any(|k| top.eq_ignore_ascii_case(k))
            })
            .split("__"),
    );
    figment = figment.merge(Serialized::defaults(overrides));
    let config: NodeConfig = figment.extract().map_err(|e| {
        ConfigError::Invalid(
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    config.validate()?;
    Ok(config)
}

impl NodeConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Inconsistent(m));
        if self.block.max_ops_per_block == 0 {
            return bad("block.max_ops_per_block must be at least 1".into());
        }
        if self.mempool.max_txs == 0 || self.mempool.max_txs_per_account == 0 {
            return bad(
                "mempool.max_txs and mempool.max_txs_per_account must be at least 1".into(),
            );
        }
        if (self.dev.tamper_proofs || self.dev.tamper_secondary_commits)
            && !self.dev.keys_from_mnemonic
        {
            return bad(
                "dev.tamper_proofs and dev.tamper_secondary_commits are fault injection for tests: only on a devnet (dev.keys_from_mnemonic)".into(),
            );
        }
        if !self.chain_specs()?.is_empty() && self.dev.allow_priority_injection {
            return bad(
                "dev.allow_priority_injection must be off when chains are configured: \
                 their watchers are then the only source of priority ops"
                    .into(),
            );
        }
        if self.prover.enabled {
            self.prover
                .ptau_source(&self.data_dir)
                .map_err(ConfigError::Inconsistent)?;
        }
        if self.deploy.governance_delay_s < self.deploy.priority_expiry_s {
            return bad(
                "deploy.governance_delay_s must be at least deploy.priority_expiry_s".into(),
            );
        }
        Ok(())
    }
}

/// Values given on the command line; only those present override.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CliOverrides {
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--rpc-addr` and friends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc: Option<RpcOverrides>,
    /// `--metrics-addr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsOverrides>,
}

/// RPC flags.
#[derive(Debug, Clone, Serialize)]
pub struct RpcOverrides {
    /// `--rpc-addr`.
    pub addr: SocketAddr,
}

/// Metrics flags.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsOverrides {
    /// `--metrics-addr`.
    pub addr: SocketAddr,
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment's error type
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn layers_apply_in_order_and_errors_name_key_and_source() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "node.toml",
                r#"
                data_dir = "/from/file"
                [rpc]
                addr = "127.0.0.1:1111"
                max_batch_len = 7
                [mempool]
                max_txs = 5
                "#,
            )?;
            jail.set_env("MANYFOLD_MEMPOOL__MAX_TXS", "9");
            jail.set_env("MANYFOLD_RPC__ADDR", "127.0.0.1:2222");
            jail.set_env("MANYFOLD_UNRELATED_TEST_VAR", "ignored");
            jail.set_env("MANYFOLD_PROVER__ENABLED", "false");
            let overrides = CliOverrides {
                rpc: Some(RpcOverrides {
                    addr: "127.0.0.1:3333".parse().unwrap(),
                }),
                ..Default::default()
            };
            let config = load(
                NodeConfig::default(),
                Some(Path::new("node.toml")),
                &overrides,
            )
            .unwrap();
            assert_eq!(
                config.data_dir,
                PathBuf::from("/from/file"),
                "file over defaults"
            );
            assert_eq!(config.rpc.max_batch_len, 7);
            assert!(
                !config.prover.enabled,
                "every section can be set from the environment"
            );
            let devnet = load(NodeConfig::devnet(), None, &CliOverrides::default()).unwrap();
            assert!(
                !devnet.prover.enabled,
                "the environment overrides the devnet's defaults too"
            );
            assert_eq!(config.mempool.max_txs, 9, "environment over file");
            assert_eq!(config.rpc.addr.port(), 3333, "flags over environment");
            assert_eq!(
                config.mempool.max_txs_per_account,
                MempoolConfig::default().max_txs_per_account
            );

            jail.set_env("MANYFOLD_MEMPOOL__MAX_TXS", "lots");
            let err = load(
                NodeConfig::default(),
                Some(Path::new("node.toml")),
                &CliOverrides::default(),
            )
            .unwrap_err();
            let text = err.to_string().to_lowercase();
            assert!(
                text.contains("mempool.max_txs") && text.contains("manyfold_"),
                "{text}"
            );

            jail.set_env("MANYFOLD_MEMPOOL__MAX_TXS", "9");
            jail.create_file("bad.toml", "[rpc]\nadress = \"x\"\n")?;
            let text = load(
                NodeConfig::default(),
                Some(Path::new("bad.toml")),
                &CliOverrides::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(
                text.contains("adress") && text.contains("bad.toml"),
                "{text}"
            );
            assert!(load(
                NodeConfig::default(),
                Some(Path::new("missing.toml")),
                &CliOverrides::default()
            )
            .is_err());
            Ok(())
        });
    }

    #[test]
    fn the_devnet_proves_with_an_insecure_setup_by_default() {
        let devnet = NodeConfig::devnet();
        assert!(devnet.prover.enabled && devnet.prover.insecure_devnet_setup);
        // Three embedded chains, deposits from their watchers only, the node's keys from
        // the public mnemonic.
        let specs = devnet.chain_specs().unwrap();
        assert_eq!(
            specs
                .iter()
                .map(|s| (s.name.as_str(), s.id.get(), s.primary))
                .collect::<Vec<_>>(),
            vec![
                ("primary", 0, true),
                ("alpha", 1, false),
                ("beta", 2, false)
            ]
        );
        assert!(specs.iter().all(|s| s.kind == "embedded"));
        assert!(!devnet.dev.allow_priority_injection);
        assert!(devnet.dev.keys_from_mnemonic);
        devnet.validate().unwrap();
        assert!(!NodeConfig::default().prover.enabled);
        assert!(!NodeConfig::default().dev.keys_from_mnemonic);
    }

    #[test]
    fn contradictions_are_refused() {
        let table = |v: serde_json::Value| v.as_object().unwrap().clone();
        let mut config = NodeConfig {
            chains: table(serde_json::json!({
                "a": {"kind": "embedded", "id": 0},
                "b": {"kind": "evm", "id": 1, "url": "http://127.0.0.1:1"},
            })),
            ..NodeConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("primary"), "{err}");
        config.chains = table(serde_json::json!({
            "a": {"kind": "embedded", "id": 0, "primary": true},
            "b": {"kind": "evm", "id": 2},
        }));
        assert!(config.validate().is_err(), "ids must be 0..n");
        config.chains = table(serde_json::json!({
            "a": {"kind": "embedded", "id": 0, "primary": true},
            "b": {"kind": "evm", "id": 1, "url": "http://127.0.0.1:1"},
        }));
        config.validate().unwrap();
        config.dev.allow_priority_injection = true;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("allow_priority_injection"), "{err}");
        config.dev.allow_priority_injection = false;

        let err = config.chain_set(None).unwrap_err().to_string();
        assert!(err.contains("manyfold deploy"), "{err}");
        let deployed = |id, primary, evm_chain_id| crate::deploy::DeployedChain {
            id,
            evm_chain_id,
            primary,
            deployer: manyfold_types::Address::ZERO,
            settlement: manyfold_types::Address::repeat_byte(id as u8 + 1),
            poseidon: None,
            verifier: None,
            from_block: 0,
            tokens: Vec::new(),
        };
        let mut deployment = crate::deploy::Deployment {
            verifying_key_digest: Default::default(),
            genesis_state_root: Default::default(),
            chains: [("a".to_owned(), deployed(0, true, 7))].into(),
        };
        let err = config.chain_set(Some(&deployment)).unwrap_err().to_string();
        assert!(err.contains("`b` is not in the deployment"), "{err}");
        deployment.chains.insert("b".into(), deployed(0, false, 5));
        let err = config.chain_set(Some(&deployment)).unwrap_err().to_string();
        assert!(err.contains("deployed as id 0"), "{err}");
        deployment.chains.insert("b".into(), deployed(1, false, 5));
        let set = config.chain_set(Some(&deployment)).unwrap();
        assert_eq!(set.len(), 2);
        let b = set
            .domain(manyfold_types::ChainId::new(1).unwrap())
            .unwrap();
        assert_eq!(
            (b.evm_chain_id, b.settlement),
            (5, manyfold_types::Address::repeat_byte(2))
        );
        assert_eq!(
            NodeConfig::default().chain_set(None).unwrap().len(),
            1,
            "no chains: one local chain"
        );
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment's error type
mod example_tests {
    use super::*;

    /// The commented examples in config/ load and mean what they say.
    #[test]
    fn shipped_examples_load() {
        // Inside a jail: it serialises tests that touch the process environment.
        figment::Jail::expect_with(|_| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
            let devnet = load(
                NodeConfig::devnet(),
                Some(&root.join("devnet.toml")),
                &CliOverrides::default(),
            )
            .unwrap();
            assert_eq!(devnet.rpc, RpcConfig::default());
            assert!(!devnet.dev.allow_priority_injection);
            assert_eq!(devnet.chain_specs().unwrap().len(), 3);
            let anvil = load(
                NodeConfig::default(),
                Some(&root.join("anvil.toml")),
                &CliOverrides::default(),
            )
            .unwrap();
            anvil.validate().unwrap();
            let specs = anvil.chain_specs().unwrap();
            assert_eq!(
                specs.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(),
                vec!["embedded", "evm", "evm"]
            );
            assert_eq!(
                anvil.settlement.operator_key_env.as_deref(),
                Some("MANYFOLD_OPERATOR_KEY")
            );
            let node = load(
                NodeConfig::default(),
                Some(&root.join("node.toml")),
                &CliOverrides::default(),
            )
            .unwrap();
            assert!(!node.dev.allow_priority_injection);
            assert_eq!(
                node.prover.ptau_source(&node.data_dir),
                Ok(manyfold_prover::PtauSource::Ceremony(
                    "/var/lib/manyfold/ptau".into()
                ))
            );
            assert!(devnet.prover.enabled && devnet.prover.insecure_devnet_setup);
            let specs = node.chain_specs().unwrap();
            assert_eq!(specs.iter().filter(|c| c.primary).count(), 1);
            assert_eq!(specs.len(), 3);
            Ok(())
        });
    }
}
