//! The `[chains.NAME]` sections of the node's config: the keys every chain has, and the
//! rest, which belongs to the chain's plugin.

use std::collections::BTreeSet;

use manyfold_types::ChainId;
use serde::de::DeserializeOwned;

use crate::finality::Finality;

/// A config section as a generic table. TOML tables, figment values and environment
/// variables all convert to it, and it costs a plugin no dependency beyond `serde_json`.
pub type Table = serde_json::Map<String, serde_json::Value>;

/// The keys of a `[chains.NAME]` section that the node reads itself; the plugin never sees
/// them.
pub const COMMON_KEYS: [&str; 4] = ["kind", "id", "primary", "finality"];

/// Why a chain's configuration was refused. Every message names the chain (`chains.NAME`)
/// and, where there is one, the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The section is not a table, or has no usable name.
    #[error("chains.{chain}: {reason}")]
    Malformed {
        /// The chain's name.
        chain: String,
        /// What is wrong.
        reason: String,
    },
    /// No plugin is registered for the chain's `kind`.
    #[error("chains.{chain}: unknown kind `{kind}`; {}", registered(known))]
    UnknownKind {
        /// The chain's name.
        chain: String,
        /// The kind asked for.
        kind: String,
        /// The registered kinds.
        known: Vec<String>,
    },
    /// Keys that neither the node nor the plugin reads.
    #[error("chains.{chain}: unknown key{} {} for kind `{kind}`; it takes {} besides {}", plural(keys), quoted(keys), quoted_or_none(accepted), quoted(&COMMON_KEYS))]
    UnknownKeys {
        /// The chain's name.
        chain: String,
        /// Its kind.
        kind: String,
        /// The keys refused.
        keys: Vec<String>,
        /// The plugin's own keys.
        accepted: Vec<String>,
    },
    /// A key that must be given is not.
    #[error("chains.{chain}: missing key `{key}`")]
    MissingKey {
        /// The chain's name.
        chain: String,
        /// The key.
        key: String,
    },
    /// A key's value is of the wrong type or out of range.
    #[error("chains.{chain}.{key}: {reason}")]
    InvalidValue {
        /// The chain's name.
        chain: String,
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two chains claim the same rollup id.
    #[error("chains.{first} and chains.{second} both have id {id}")]
    DuplicateId {
        /// The id.
        id: ChainId,
        /// One chain.
        first: String,
        /// The other.
        second: String,
    },
    /// The rollup ids leave a gap: the chain set is `0..n` (DESIGN §1).
    #[error("chain ids must be 0 to {}: no chain has id {missing}", count - 1)]
    MissingId {
        /// The first id no chain has.
        missing: u64,
        /// The number of chains.
        count: usize,
    },
    /// No chain is `primary = true`.
    #[error("exactly one chain must be primary (primary = true); none is")]
    NoPrimary,
    /// Several chains are `primary = true`.
    #[error("exactly one chain must be primary; {} are", quoted(chains))]
    SeveralPrimaries {
        /// Their names.
        chains: Vec<String>,
    },
    /// The primary's plugin cannot verify proofs (DESIGN §5, §10).
    #[error("chains.{chain}: the primary chain must verify proofs, and a chain of kind `{kind}` does not")]
    PrimaryCannotVerify {
        /// The primary's name.
        chain: String,
        /// Its kind.
        kind: String,
    },
    /// The plugin refused its configuration for a reason of its own.
    #[error("chains.{chain}: {source}")]
    Plugin {
        /// The chain's name.
        chain: String,
        /// The plugin's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn quoted<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn quoted_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "no keys".into()
    } else {
        quoted(items)
    }
}

fn plural<T>(items: &[T]) -> &'static str {
    if items.len() == 1 {
        ""
    } else {
        "s"
    }
}

fn registered(known: &[String]) -> String {
    if known.is_empty() {
        "no chain kinds are registered".into()
    } else {
        format!("registered kinds: {}", quoted(known))
    }
}

/// The keys of one chain's section, handed out one at a time. A plugin takes the keys it
/// knows; whatever it leaves is refused, by name, once the plugin is built.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSection {
    chain: String,
    kind: String,
    table: Table,
    asked: BTreeSet<String>,
}

impl PluginSection {
    /// The section of chain `chain` (of kind `kind`) holding `table`.
    pub fn new(chain: impl Into<String>, kind: impl Into<String>, table: Table) -> Self {
        Self {
            chain: chain.into(),
            kind: kind.into(),
            table,
            asked: BTreeSet::new(),
        }
    }

    /// The chain's name.
    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// Takes `key`, if present, as a `T`.
    pub fn take<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>, ConfigError> {
        self.asked.insert(key.to_owned());
        let Some(value) = self.table.remove(key) else {
            return Ok(None);
        };
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| self.invalid(key, e))
    }

    /// Takes `key`, or `default` when it is absent.
    pub fn take_or<T: DeserializeOwned>(
        &mut self,
        key: &str,
        default: T,
    ) -> Result<T, ConfigError> {
        Ok(self.take(key)?.unwrap_or(default))
    }

    /// Takes `key`, which must be present.
    pub fn require<T: DeserializeOwned>(&mut self, key: &str) -> Result<T, ConfigError> {
        self.take(key)?.ok_or_else(|| ConfigError::MissingKey {
            chain: self.chain.clone(),
            key: key.to_owned(),
        })
    }

    /// An [`ConfigError::InvalidValue`] for `key` of this chain.
    pub fn invalid(&self, key: &str, reason: impl std::fmt::Display) -> ConfigError {
        ConfigError::InvalidValue {
            chain: self.chain.clone(),
            key: key.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// The keys not taken yet.
    pub fn remaining(&self) -> impl Iterator<Item = &str> {
        self.table.keys().map(String::as_str)
    }

    /// Refuses every key not taken, naming each and the keys the plugin does take.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.table.is_empty() {
            return Ok(());
        }
        Err(ConfigError::UnknownKeys {
            keys: self.table.keys().cloned().collect(),
            accepted: self
                .asked
                .into_iter()
                .filter(|k| !COMMON_KEYS.contains(&k.as_str()))
                .collect(),
            chain: self.chain,
            kind: self.kind,
        })
    }
}

/// One `[chains.NAME]` section: the keys every chain has, and the plugin's own.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSpec {
    /// `NAME`: the operator's name for the chain, used in logs and metrics.
    pub name: String,
    /// `kind`: the plugin that drives it.
    pub kind: String,
    /// `id`: the chain's rollup id (DESIGN §1), `0` to `ChainId::MAX`; not the EVM chain id.
    pub id: ChainId,
    /// `primary`: whether this chain verifies the proofs (exactly one does). Default false.
    pub primary: bool,
    /// `finality`: when its blocks count as final. Default `"finalized"`.
    pub finality: Finality,
    /// Every other key, for the plugin.
    pub plugin: Table,
}

impl ChainSpec {
    /// Reads the section of chain `name`.
    pub fn parse(name: &str, section: &serde_json::Value) -> Result<Self, ConfigError> {
        let malformed = |reason: &str| ConfigError::Malformed {
            chain: name.to_owned(),
            reason: reason.to_owned(),
        };
        if name.is_empty() {
            return Err(malformed("a chain needs a non-empty name"));
        }
        let table = section
            .as_object()
            .ok_or_else(|| malformed("must be a table of keys"))?
            .clone();
        let mut keys = PluginSection::new(name, "", table);
        let kind: String = keys.require("kind")?;
        let id: u64 = keys.require("id")?;
        let id = ChainId::try_from(id).map_err(|e| keys.invalid("id", e))?;
        let primary = keys.take_or("primary", false)?;
        let finality = keys.take_or("finality", Finality::default())?;
        Ok(Self {
            name: name.to_owned(),
            kind,
            id,
            primary,
            finality,
            plugin: keys.table,
        })
    }

    /// The plugin's keys, ready to be taken.
    pub fn plugin_section(&self) -> PluginSection {
        PluginSection::new(&self.name, &self.kind, self.plugin.clone())
    }
}

/// Reads every chain of a `[chains]` table (`[chains.NAME]` sections), ordered by rollup
/// id. The ids must be `0..n` with none repeated, and exactly one chain must be primary
/// unless there are none at all (a node that settles nowhere).
pub fn parse_chains(chains: &Table) -> Result<Vec<ChainSpec>, ConfigError> {
    let mut specs = chains
        .iter()
        .map(|(name, section)| ChainSpec::parse(name, section))
        .collect::<Result<Vec<_>, _>>()?;
    specs.sort_by_key(|s| s.id);
    for pair in specs.windows(2) {
        if pair[0].id == pair[1].id {
            return Err(ConfigError::DuplicateId {
                id: pair[0].id,
                first: pair[0].name.clone(),
                second: pair[1].name.clone(),
            });
        }
    }
    if let Some(missing) = specs
        .iter()
        .zip(0u64..)
        .find(|(s, i)| u64::from(s.id) != *i)
        .map(|(_, i)| i)
    {
        return Err(ConfigError::MissingId {
            missing,
            count: specs.len(),
        });
    }
    if !specs.is_empty() {
        one_primary(specs.iter().filter(|s| s.primary).map(|s| s.name.as_str()))?;
    }
    Ok(specs)
}

/// Refuses anything but exactly one primary.
pub(crate) fn one_primary<'a>(primaries: impl Iterator<Item = &'a str>) -> Result<(), ConfigError> {
    let primaries: Vec<String> = primaries.map(str::to_owned).collect();
    match primaries.len() {
        1 => Ok(()),
        0 => Err(ConfigError::NoPrimary),
        _ => Err(ConfigError::SeveralPrimaries { chains: primaries }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(value: serde_json::Value) -> Table {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn common_keys_are_read_and_the_rest_left_to_the_plugin() {
        let spec = ChainSpec::parse(
            "ethereum",
            &json!({"kind": "evm", "id": 0, "primary": true, "finality": 12, "rpc_url": "http://x"}),
        )
        .unwrap();
        assert_eq!(spec.kind, "evm");
        assert_eq!(spec.id, ChainId::new(0).unwrap());
        assert!(spec.primary);
        assert_eq!(spec.finality, Finality::Blocks(12));
        assert_eq!(spec.plugin, table(json!({"rpc_url": "http://x"})));

        let spec = ChainSpec::parse("b", &json!({"kind": "evm", "id": 3})).unwrap();
        assert!(!spec.primary, "primary defaults to false");
        assert_eq!(
            spec.finality,
            Finality::Finalized,
            "finality defaults to finalized"
        );
    }

    #[test]
    fn bad_common_keys_are_named() {
        let text = |v| ChainSpec::parse("eth", &v).unwrap_err().to_string();
        assert_eq!(text(json!({"id": 0})), "chains.eth: missing key `kind`");
        assert_eq!(text(json!({"kind": "evm"})), "chains.eth: missing key `id`");
        let t = text(json!({"kind": "evm", "id": 16}));
        assert!(t.starts_with("chains.eth.id: ") && t.contains("16"), "{t}");
        let t = text(json!({"kind": "evm", "id": 0, "finality": "soon"}));
        assert!(
            t.starts_with("chains.eth.finality: ") && t.contains("soon"),
            "{t}"
        );
        let t = text(json!({"kind": "evm", "id": 0, "primary": "yes"}));
        assert!(t.starts_with("chains.eth.primary: "), "{t}");
        assert!(text(json!("evm")).contains("table"));
        assert!(ChainSpec::parse("", &json!({"kind": "evm", "id": 0})).is_err());
    }

    #[test]
    fn chain_sets_need_dense_unique_ids_and_one_primary() {
        let ok = table(json!({
            "arbitrum": {"kind": "evm", "id": 1},
            "ethereum": {"kind": "embedded", "id": 0, "primary": true},
        }));
        let specs = parse_chains(&ok).unwrap();
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ethereum", "arbitrum"], "ordered by id");
        assert!(parse_chains(&Table::new()).unwrap().is_empty());

        let dup = table(json!({
            "a": {"kind": "evm", "id": 0, "primary": true},
            "b": {"kind": "evm", "id": 0},
        }));
        assert!(matches!(
            parse_chains(&dup),
            Err(ConfigError::DuplicateId { .. })
        ));
        let gap = table(json!({
            "a": {"kind": "evm", "id": 0, "primary": true},
            "b": {"kind": "evm", "id": 2},
        }));
        let err = parse_chains(&gap).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::MissingId {
                    missing: 1,
                    count: 2
                }
            ),
            "{err}"
        );
        let none = table(json!({"a": {"kind": "evm", "id": 0}}));
        assert!(matches!(parse_chains(&none), Err(ConfigError::NoPrimary)));
        let two = table(json!({
            "a": {"kind": "evm", "id": 0, "primary": true},
            "b": {"kind": "evm", "id": 1, "primary": true},
        }));
        let err = parse_chains(&two).unwrap_err();
        assert!(err.to_string().contains("`a`, `b`"), "{err}");
    }

    #[test]
    fn plugin_keys_are_taken_and_leftovers_refused_by_name() {
        let mut section = PluginSection::new(
            "eth",
            "evm",
            table(json!({"rpc_url": "http://x", "poll_ms": 500, "rpc_ulr": "typo", "extra": 1})),
        );
        let url: String = section.require("rpc_url").unwrap();
        assert_eq!(url, "http://x");
        assert_eq!(section.take_or("poll_ms", 1000u64).unwrap(), 500);
        assert_eq!(section.take::<u64>("timeout_ms").unwrap(), None);
        assert!(matches!(
            section.require::<String>("api_key"),
            Err(ConfigError::MissingKey { ref key, .. }) if key == "api_key"
        ));
        let mut remaining: Vec<_> = section.remaining().collect();
        remaining.sort();
        assert_eq!(remaining, ["extra", "rpc_ulr"]);
        let err = section.finish().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("unknown keys `extra`, `rpc_ulr` for kind `evm`"),
            "{text}"
        );
        assert!(
            text.contains("`rpc_url`") && text.contains("`poll_ms`"),
            "{text}"
        );

        let mut bad = PluginSection::new("eth", "evm", table(json!({"poll_ms": "fast"})));
        let text = bad.take::<u64>("poll_ms").unwrap_err().to_string();
        assert!(text.starts_with("chains.eth.poll_ms: "), "{text}");
        PluginSection::new("eth", "evm", Table::new())
            .finish()
            .unwrap();
    }
}
