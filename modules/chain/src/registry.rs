//! Plugin factories keyed by the `kind` used in config, and the start-up checks.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{one_primary, ChainSpec, ConfigError, PluginSection};
use crate::traits::Chain;

/// Builds a plugin from its chain's configuration.
///
/// A factory takes the keys it knows from `section` ([`PluginSection::take`] and friends)
/// and leaves the rest: the registry refuses leftovers by name. Whatever the plugin needs
/// from the node (a data directory, a storage handle) the node captures when it registers
/// the factory, so plugins never depend on the node. Closures of the same signature are
/// factories too (annotate their argument types).
pub trait ChainFactory: Send + Sync {
    /// The plugin for `spec`, or why its configuration is refused.
    fn build(
        &self,
        spec: &ChainSpec,
        section: &mut PluginSection,
    ) -> Result<Arc<dyn Chain>, ConfigError>;
}

impl<F> ChainFactory for F
where
    F: Fn(&ChainSpec, &mut PluginSection) -> Result<Arc<dyn Chain>, ConfigError> + Send + Sync,
{
    fn build(
        &self,
        spec: &ChainSpec,
        section: &mut PluginSection,
    ) -> Result<Arc<dyn Chain>, ConfigError> {
        self(spec, section)
    }
}

/// A second factory for a `kind` that already has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a chain plugin of kind `{0}` is already registered")]
pub struct DuplicateKind(pub String);

/// A chain built from its configuration.
#[derive(Clone)]
pub struct BuiltChain {
    /// Its configuration.
    pub spec: ChainSpec,
    /// The plugin.
    pub chain: Arc<dyn Chain>,
}

impl std::fmt::Debug for BuiltChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltChain")
            .field("spec", &self.spec)
            .field("capabilities", &self.chain.capabilities())
            .finish_non_exhaustive()
    }
}

/// The plugin factories the node knows, by `kind`.
#[derive(Default)]
pub struct ChainRegistry {
    factories: BTreeMap<String, Box<dyn ChainFactory>>,
}

impl std::fmt::Debug for ChainRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl ChainRegistry {
    /// A registry with no kinds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `factory` under `kind`; a kind has one factory only.
    pub fn register(
        &mut self,
        kind: impl Into<String>,
        factory: impl ChainFactory + 'static,
    ) -> Result<(), DuplicateKind> {
        let kind = kind.into();
        if self.factories.contains_key(&kind) {
            return Err(DuplicateKind(kind));
        }
        self.factories.insert(kind, Box::new(factory));
        Ok(())
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// Whether `kind` is registered.
    pub fn contains(&self, kind: &str) -> bool {
        self.factories.contains_key(kind)
    }

    /// Builds the plugin of one chain, refusing an unknown kind (listing the registered
    /// ones) and every key that neither the node nor the plugin took.
    pub fn build(&self, spec: &ChainSpec) -> Result<BuiltChain, ConfigError> {
        let factory = self.factory(spec)?;
        let mut section = spec.plugin_section();
        let chain = factory.build(spec, &mut section)?;
        section.finish()?;
        Ok(BuiltChain {
            spec: spec.clone(),
            chain,
        })
    }

    /// Builds every chain, after checking that every kind is known (so that no plugin
    /// starts for a config that is refused anyway), then checks the primary
    /// ([`check_primary`]).
    pub fn build_all(&self, specs: &[ChainSpec]) -> Result<Vec<BuiltChain>, ConfigError> {
        for spec in specs {
            self.factory(spec)?;
        }
        let built = specs
            .iter()
            .map(|spec| self.build(spec))
            .collect::<Result<Vec<_>, _>>()?;
        check_primary(&built)?;
        Ok(built)
    }

    fn factory(&self, spec: &ChainSpec) -> Result<&dyn ChainFactory, ConfigError> {
        self.factories
            .get(&spec.kind)
            .map(Box::as_ref)
            .ok_or_else(|| ConfigError::UnknownKind {
                chain: spec.name.clone(),
                kind: spec.kind.clone(),
                known: self.factories.keys().cloned().collect(),
            })
    }
}

/// The start-up check of the primary: exactly one chain is `primary = true`, and its plugin
/// verifies proofs. Returns the primary.
pub fn check_primary(chains: &[BuiltChain]) -> Result<&BuiltChain, ConfigError> {
    one_primary(
        chains
            .iter()
            .filter(|c| c.spec.primary)
            .map(|c| c.spec.name.as_str()),
    )?;
    let primary = chains
        .iter()
        .find(|c| c.spec.primary)
        .expect("exactly one primary");
    if !primary.chain.capabilities().verifies_proofs {
        return Err(ConfigError::PrimaryCannotVerify {
            chain: primary.spec.name.clone(),
            kind: primary.spec.kind.clone(),
        });
    }
    Ok(primary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_chains;
    use crate::testing::{MockChain, MockFactory};
    use serde_json::json;

    fn specs(value: serde_json::Value) -> Vec<ChainSpec> {
        parse_chains(value.as_object().unwrap()).unwrap()
    }

    fn registry(mock: &MockFactory) -> ChainRegistry {
        let mut registry = ChainRegistry::new();
        registry.register("mock", mock.clone()).unwrap();
        registry
    }

    #[test]
    fn a_kind_is_registered_once() {
        let mut registry = ChainRegistry::new();
        registry.register("mock", MockFactory::default()).unwrap();
        let err = registry
            .register("mock", MockFactory::default())
            .unwrap_err();
        assert_eq!(err, DuplicateKind("mock".into()));
        assert!(err.to_string().contains("`mock`"));
        registry.register("other", MockFactory::default()).unwrap();
        assert_eq!(registry.kinds().collect::<Vec<_>>(), ["mock", "other"]);
        assert!(registry.contains("other") && !registry.contains("evm"));
    }

    #[test]
    fn an_unknown_kind_is_refused_with_the_registered_ones_before_anything_is_built() {
        let mock = MockFactory::default();
        let mut registry = registry(&mock);
        registry.register("also", MockFactory::default()).unwrap();
        let specs = specs(json!({
            "a": {"kind": "mock", "id": 0, "primary": true, "verifies_proofs": true},
            "b": {"kind": "evmm", "id": 1},
        }));
        let err = registry.build_all(&specs).unwrap_err();
        assert_eq!(
            err.to_string(),
            "chains.b: unknown kind `evmm`; registered kinds: `also`, `mock`"
        );
        assert!(
            mock.get("a").is_none(),
            "no plugin starts for a refused config"
        );
        let text = ChainRegistry::new()
            .build(&specs[0])
            .unwrap_err()
            .to_string();
        assert!(text.contains("no chain kinds are registered"), "{text}");
    }

    #[test]
    fn unknown_plugin_keys_are_refused_by_name() {
        let mock = MockFactory::default();
        let specs = specs(json!({
            "eth": {"kind": "mock", "id": 0, "primary": true, "verifies_proofs": true,
                    "chain_idd": 5},
        }));
        let err = registry(&mock).build_all(&specs).unwrap_err();
        assert!(matches!(&err, ConfigError::UnknownKeys { keys, .. } if keys == &["chain_idd"]));
        let text = err.to_string();
        assert!(
            text.starts_with("chains.eth: unknown key `chain_idd` for kind `mock`"),
            "{text}"
        );
        assert!(
            text.contains("`chain_id`, `verifies_proofs`"),
            "names the keys it does take: {text}"
        );
    }

    #[test]
    fn plugins_get_their_own_keys_and_the_common_ones() {
        let mock = MockFactory::default();
        let specs = specs(json!({
            "l1": {"kind": "mock", "id": 0, "primary": true, "finality": "safe",
                   "verifies_proofs": true, "chain_id": 5},
            "l2": {"kind": "mock", "id": 1, "finality": 3},
        }));
        let built = registry(&mock).build_all(&specs).unwrap();
        assert_eq!(built.len(), 2);
        assert_eq!(check_primary(&built).unwrap().spec.name, "l1");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(built[0].chain.chain_id()).unwrap(), 5);
        assert_eq!(
            rt.block_on(built[1].chain.chain_id()).unwrap(),
            31_338,
            "the plugin saw the spec's id"
        );
        assert!(mock.get("l2").is_some());
        assert!(!built[1].chain.capabilities().verifies_proofs);
    }

    #[test]
    fn the_primary_must_verify_proofs() {
        let mock = MockFactory::default();
        let specs = specs(json!({
            "l1": {"kind": "mock", "id": 0, "primary": true},
            "l2": {"kind": "mock", "id": 1, "verifies_proofs": true},
        }));
        let err = registry(&mock).build_all(&specs).unwrap_err();
        assert_eq!(
            err.to_string(),
            "chains.l1: the primary chain must verify proofs, and a chain of kind `mock` does not"
        );

        let built: Vec<BuiltChain> = specs
            .iter()
            .map(|s| registry(&mock).build(s).unwrap())
            .collect();
        let mut none = built.clone();
        none[0].spec.primary = false;
        assert!(matches!(check_primary(&none), Err(ConfigError::NoPrimary)));
        let mut two = built.clone();
        two[1].spec.primary = true;
        assert!(matches!(
            check_primary(&two),
            Err(ConfigError::SeveralPrimaries { chains }) if chains == ["l1", "l2"]
        ));
        assert!(matches!(check_primary(&[]), Err(ConfigError::NoPrimary)));
        let mut swapped = built;
        swapped[0].spec.primary = false;
        swapped[1].spec.primary = true;
        assert_eq!(check_primary(&swapped).unwrap().spec.name, "l2");
    }

    #[test]
    fn closures_are_factories_and_plugin_errors_name_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("endpoint {0} is not a URL")]
        struct BadUrl(String);

        let mut registry = ChainRegistry::new();
        registry
            .register(
                "strict",
                |_spec: &ChainSpec,
                 section: &mut PluginSection|
                 -> Result<Arc<dyn Chain>, ConfigError> {
                    let url: String = section.require("url")?;
                    if !url.starts_with("http") {
                        return Err(ConfigError::Plugin {
                            chain: section.chain().to_owned(),
                            source: Box::new(BadUrl(url)),
                        });
                    }
                    Ok(Arc::new(MockChain::new(1).verifying()))
                },
            )
            .unwrap();
        let spec = |url: &str| {
            ChainSpec::parse("x", &json!({"kind": "strict", "id": 0, "url": url})).unwrap()
        };
        registry.build(&spec("http://localhost:8545")).unwrap();
        let err = registry.build(&spec("ftp://nope")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "chains.x: endpoint ftp://nope is not a URL"
        );
        let missing = ChainSpec::parse("x", &json!({"kind": "strict", "id": 0})).unwrap();
        assert_eq!(
            registry.build(&missing).unwrap_err().to_string(),
            "chains.x: missing key `url`"
        );
        assert!(format!("{registry:?}").contains("strict"));
    }
}
