//! The plugin's [`ChainFactory`]: `kind = "evm"` sections become [`EvmChain`]s.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use manyfold_chain::{Chain, ChainFactory, ChainSpec, ConfigError, PluginSection};
use manyfold_sender::LocalSigner;

use crate::chain::EvmChain;
use crate::config::EvmConfig;

/// Builds an [`EvmChain`] per `[chains.NAME]` section of kind `evm`, checking the
/// endpoint's chain id against `chain_id` (when given), that the chain has the verifier
/// precompile when `verifies_proofs` declares it, and loading the signer (when one is
/// configured) at build time, so that a bad key, a wrong endpoint or a primary that could
/// never verify a proof stops start-up.
///
/// Clones share what they built: the node keeps one clone to take each chain's signer
/// ([`EvmFactory::signer`]) and concrete chain ([`EvmFactory::chain`]) after registering
/// another with the registry.
#[derive(Clone, Default)]
pub struct EvmFactory {
    built: Arc<Mutex<BTreeMap<String, Built>>>,
}

#[derive(Clone)]
struct Built {
    chain: Arc<EvmChain>,
    signer: Option<Arc<LocalSigner>>,
}

impl std::fmt::Debug for EvmFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.lock().keys()).finish()
    }
}

/// The `evm` plugin's factory, to register under [`crate::KIND`].
pub fn factory() -> EvmFactory {
    EvmFactory::default()
}

impl EvmFactory {
    /// The signer loaded for chain `name` (from `signer_key_file`/`signer_key_env`), if
    /// that chain was built with one.
    pub fn signer(&self, name: &str) -> Option<Arc<LocalSigner>> {
        self.lock().get(name).and_then(|b| b.signer.clone())
    }

    /// The chain built for `name`, as its concrete type.
    pub fn chain(&self, name: &str) -> Option<Arc<EvmChain>> {
        self.lock().get(name).map(|b| b.chain.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Built>> {
        self.built.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ChainFactory for EvmFactory {
    fn build(
        &self,
        spec: &ChainSpec,
        section: &mut PluginSection,
    ) -> Result<Arc<dyn Chain>, ConfigError> {
        let plugin_error = |source: Box<dyn std::error::Error + Send + Sync>| ConfigError::Plugin {
            chain: spec.name.clone(),
            source,
        };
        let config = EvmConfig::from_section(section)?;
        let signer = match &config.signer {
            Some(source) => Some(Arc::new(
                source.load().map_err(|e| plugin_error(Box::new(e)))?,
            )),
            None => None,
        };
        check_endpoint(&config).map_err(plugin_error)?;
        let chain = Arc::new(EvmChain::new(config));
        self.lock().insert(
            spec.name.clone(),
            Built {
                chain: chain.clone(),
                signer,
            },
        );
        Ok(chain)
    }
}

/// Checks the endpoint's chain id from a synchronous factory, whether or not the caller
/// runs inside a Tokio runtime: on a thread of its own, with a runtime and a client of its
/// own (a client's pooled connections belong to the runtime that opened them, so the
/// chain handed to the node must not share them).
fn check_endpoint(config: &EvmConfig) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config = config.clone();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let chain = EvmChain::new(config);
                    chain.check_chain_id().await?;
                    if chain.config().verifies_proofs {
                        chain.check_verifier().await?;
                    }
                    Ok::<_, crate::EvmError>(())
                })?;
                Ok(())
            })
            .join()
            .unwrap_or_else(|_| Err("the chain id check panicked".into()))
    })
}
