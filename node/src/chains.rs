//! The chain plugins the node ships, registered by kind, and building the configured
//! chains from their `[chains.NAME]` sections.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use manyfold_chain::{BuiltChain, ChainRegistry, ChainSpec};
use manyfold_chain_embedded::{EmbeddedChain, MinerHandle, PluginKeys};
use manyfold_prover::PinnedVk;
use manyfold_storage::{SledStorage, Storage};

/// The kind of the in-process EVM chain.
pub const EMBEDDED: &str = "embedded";

/// Why the configured chains could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ChainsError {
    /// A section is refused (unknown kind or key, bad value, no primary, ...).
    #[error("chains: {0}")]
    Config(#[from] manyfold_chain::ConfigError),
    /// An embedded chain's store would not open.
    #[error("chain `{chain}`: its store in {dir}: {reason}")]
    Store {
        /// The chain.
        chain: String,
        /// Its directory.
        dir: String,
        /// Why.
        reason: String,
    },
}

/// The configured chains, built, with what the node runs for them.
pub struct Chains {
    /// Every chain, in rollup-id order.
    pub built: Vec<BuiltChain>,
    /// The embedded chains, by name, with their keys: the node starts their miners and
    /// servers.
    pub embedded: BTreeMap<String, (EmbeddedChain, PluginKeys)>,
}

impl std::fmt::Debug for Chains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chains")
            .field("built", &self.built)
            .field("embedded", &self.embedded.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Chains {
    /// Builds every chain of `specs`: kind `embedded` stores each chain under
    /// `<data_dir>/chains/<name>` and installs the verifier precompile pinned to
    /// `verifier` when one is given; kind `evm` reaches its endpoint.
    pub fn build(
        specs: &[ChainSpec],
        data_dir: &Path,
        verifier: Option<Arc<PinnedVk>>,
    ) -> Result<Self, ChainsError> {
        // Stores open here, where their errors can be returned; the factory only looks
        // them up.
        let mut stores: BTreeMap<String, Arc<dyn Storage>> = BTreeMap::new();
        for spec in specs.iter().filter(|s| s.kind == EMBEDDED) {
            let dir = data_dir.join("chains").join(&spec.name);
            let store = SledStorage::open(&dir).map_err(|e| ChainsError::Store {
                chain: spec.name.clone(),
                dir: dir.display().to_string(),
                reason: e.to_string(),
            })?;
            stores.insert(spec.name.clone(), Arc::new(store));
        }
        let opened: Arc<Mutex<BTreeMap<String, (EmbeddedChain, PluginKeys)>>> = Arc::default();
        let mut registry = ChainRegistry::new();
        let record = opened.clone();
        registry
            .register(
                EMBEDDED,
                manyfold_chain_embedded::factory_with(
                    move |name: &str| stores[name].clone(),
                    verifier,
                    move |name: &str, chain: &EmbeddedChain, keys: &PluginKeys| {
                        record
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(name.to_owned(), (chain.clone(), keys.clone()));
                    },
                ),
            )
            .expect("a fresh registry");
        registry
            .register(manyfold_chain_evm::KIND, manyfold_chain_evm::factory())
            .expect("a fresh registry");
        let built = specs
            .iter()
            .map(|spec| registry.build(spec))
            .collect::<Result<Vec<_>, _>>()?;
        let embedded = std::mem::take(&mut *opened.lock().unwrap_or_else(|e| e.into_inner()));
        Ok(Self { built, embedded })
    }

    /// Starts the block timers of the embedded chains that have one.
    pub fn start_miners(&self) -> Vec<MinerHandle> {
        self.embedded
            .values()
            .filter_map(|(chain, _)| chain.start_miner())
            .collect()
    }
}
