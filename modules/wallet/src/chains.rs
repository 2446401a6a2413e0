//! Which settlement chains there are, and what the wallet needs of each: its L2 id, its
//! EVM chain id, its settlement contract, its tokens and an Ethereum JSON-RPC endpoint.
//!
//! Three sources, later ones overriding earlier ones:
//! 1. the node's `manyfold_chains` (`id`, `name`, `kind`, `primary`; a newer node also
//!    `evmChainId`, `settlement`, `rpcUrl` for the chains it serves itself, and `tokens`);
//! 2. `--deployment FILE`: the deployment file `manyfold deploy` wrote;
//! 3. `--chain-rpc NAME=URL`: an endpoint per chain.
//!
//! Numbers are read tolerantly (a JSON number, a `0x` quantity or a decimal string), as the
//! node writes ids as quantities and a deployment file as numbers.

use std::collections::BTreeMap;
use std::path::Path;

use alloy_primitives::Address;
use manyfold_types::{ChainDomain, ChainId, TokenId};
use serde::{Deserialize, Deserializer};
use url::Url;

use crate::error::{Result, WalletError};

/// A token registered on a chain's settlement contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct TokenEntry {
    /// The L2 token id.
    #[serde(deserialize_with = "flexible")]
    pub id: u16,
    /// The local token; the zero address for the chain's native coin.
    pub address: Address,
    /// Its decimals on that chain.
    #[serde(deserialize_with = "flexible")]
    pub decimals: u8,
}

/// One entry of `manyfold_chains`: only `id` and `name` are required.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeChainInfo {
    /// The rollup's id of the chain.
    #[serde(deserialize_with = "flexible")]
    pub id: u16,
    /// Its name.
    pub name: String,
    /// Plugin kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Whether it verifies proofs.
    #[serde(default)]
    pub primary: bool,
    /// EIP-155 chain id.
    #[serde(default, deserialize_with = "flexible_opt")]
    pub evm_chain_id: Option<u64>,
    /// The settlement contract.
    #[serde(default)]
    pub settlement: Option<Address>,
    /// An endpoint, for chains the node serves itself.
    #[serde(default)]
    pub rpc_url: Option<String>,
    /// Registered tokens.
    #[serde(default)]
    pub tokens: Option<Vec<TokenEntry>>,
}

/// The parts of the node's deployment file (`manyfold deploy`) the wallet reads; other
/// fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeploymentFile {
    /// Per chain name.
    pub chains: BTreeMap<String, DeployedChain>,
}

/// One chain of a deployment file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeployedChain {
    /// Rollup chain id.
    #[serde(deserialize_with = "flexible")]
    pub id: u16,
    /// EIP-155 chain id.
    #[serde(deserialize_with = "flexible")]
    pub evm_chain_id: u64,
    /// Whether it is the primary.
    #[serde(default)]
    pub primary: bool,
    /// The settlement contract.
    pub settlement: Address,
    /// Registered tokens.
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    /// The chain block the settlement contract was deployed in: where reading its events
    /// starts (exodus rebuilds the state from them).
    #[serde(default, deserialize_with = "flexible_opt")]
    pub from_block: Option<u64>,
}

impl DeploymentFile {
    /// Parses a deployment file's text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| {
            WalletError::usage(format!("{source} is not a Manyfold deployment file: {e}"))
        })
    }

    /// Reads a deployment file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            WalletError::usage(format!(
                "cannot read deployment file {}: {e}",
                path.display()
            ))
        })?;
        Self::parse(&text, &format!("deployment file {}", path.display()))
    }
}

/// What the wallet knows of one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    /// The rollup's id.
    pub id: ChainId,
    /// The name commands take.
    pub name: String,
    /// Whether it is the primary.
    pub primary: bool,
    /// EIP-155 chain id, when known.
    pub evm_chain_id: Option<u64>,
    /// The settlement contract, when known.
    pub settlement: Option<Address>,
    /// An Ethereum JSON-RPC endpoint, when known.
    pub rpc_url: Option<Url>,
    /// The registered tokens, when some source listed them.
    pub tokens: Option<Vec<TokenEntry>>,
    /// The block the settlement contract was deployed in, when the deployment file says.
    pub from_block: Option<u64>,
}

impl ChainEntry {
    /// The token `token` as listed for this chain: `Ok(None)` when no source listed this
    /// chain's tokens, an error when the list lacks it.
    pub fn listed_token(&self, token: TokenId) -> Result<Option<TokenEntry>> {
        let Some(tokens) = &self.tokens else {
            return Ok(None);
        };
        tokens
            .iter()
            .find(|t| t.id == token.get())
            .copied()
            .map(Some)
            .ok_or_else(|| {
                WalletError::usage(format!(
                    "token {token} is not registered on chain {} (its tokens: {})",
                    self.name,
                    list(tokens.iter().map(|t| t.id))
                ))
            })
    }

    /// The listed native coin's token, when this chain's tokens are listed.
    pub fn listed_native(&self) -> Option<Result<TokenEntry>> {
        let tokens = self.tokens.as_ref()?;
        Some(
            tokens
                .iter()
                .find(|t| t.address == Address::ZERO)
                .copied()
                .ok_or_else(|| {
                    WalletError::usage(format!(
                        "chain {} has no native-coin token registered",
                        self.name
                    ))
                }),
        )
    }

    /// The settlement contract, or an error saying how to name it.
    pub fn settlement(&self) -> Result<Address> {
        self.settlement.ok_or_else(|| {
            WalletError::usage(format!(
                "the settlement contract of chain {} is unknown: the node does not report it; \
                 pass --deployment FILE",
                self.name
            ))
        })
    }

    /// The endpoint, or an error saying how to name one.
    pub fn rpc_url(&self) -> Result<&Url> {
        self.rpc_url.as_ref().ok_or_else(|| {
            WalletError::usage(format!(
                "no Ethereum JSON-RPC endpoint for chain {}: pass --chain-rpc {}=URL",
                self.name, self.name
            ))
        })
    }

    /// The signing domain, when both of its parts are known.
    pub fn domain(&self) -> Option<ChainDomain> {
        Some(ChainDomain {
            evm_chain_id: self.evm_chain_id?,
            settlement: self.settlement?,
        })
    }

    /// `chain NAME (id N)`, for messages.
    pub fn label(&self) -> String {
        format!("{} (id {})", self.name, self.id)
    }
}

/// Every chain of the deployment, by L2 id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    chains: Vec<ChainEntry>,
}

impl Directory {
    /// Merges the sources (see the module's documentation). `node` is `None` when the node
    /// was not asked or could not answer.
    pub fn merge(
        node: Option<Vec<NodeChainInfo>>,
        deployment: Option<&DeploymentFile>,
        endpoints: &[(String, Url)],
    ) -> Result<Self> {
        let mut chains: Vec<ChainEntry> = Vec::new();
        for info in node.unwrap_or_default() {
            let id = chain_id(info.id, &info.name)?;
            let rpc_url = match &info.rpc_url {
                Some(text) => Some(Url::parse(text).map_err(|e| {
                    WalletError::usage(format!(
                        "the node reports an unreadable rpcUrl for chain {}: {e}",
                        info.name
                    ))
                })?),
                None => None,
            };
            chains.push(ChainEntry {
                id,
                name: info.name,
                primary: info.primary,
                evm_chain_id: info.evm_chain_id,
                settlement: info.settlement,
                rpc_url,
                tokens: info.tokens,
                from_block: None,
            });
        }
        if let Some(deployment) = deployment {
            for (name, deployed) in &deployment.chains {
                let id = chain_id(deployed.id, name)?;
                match chains.iter_mut().find(|c| &c.name == name) {
                    Some(entry) if entry.id != id => {
                        return Err(WalletError::usage(format!(
                            "the deployment file gives chain {name} id {id}, the node id {}: \
                             is it this node's deployment?",
                            entry.id
                        )))
                    }
                    Some(entry) => {
                        entry.evm_chain_id = Some(deployed.evm_chain_id);
                        entry.settlement = Some(deployed.settlement);
                        entry.tokens = Some(deployed.tokens.clone());
                        entry.primary = deployed.primary;
                        entry.from_block = deployed.from_block;
                    }
                    None => chains.push(ChainEntry {
                        id,
                        name: name.clone(),
                        primary: deployed.primary,
                        evm_chain_id: Some(deployed.evm_chain_id),
                        settlement: Some(deployed.settlement),
                        rpc_url: None,
                        tokens: Some(deployed.tokens.clone()),
                        from_block: deployed.from_block,
                    }),
                }
            }
        }
        chains.sort_by_key(|c| c.id);
        for pair in chains.windows(2) {
            if pair[0].id == pair[1].id {
                return Err(WalletError::usage(format!(
                    "chains {} and {} both have id {}",
                    pair[0].name, pair[1].name, pair[0].id
                )));
            }
        }
        let mut directory = Self { chains };
        for (name, url) in endpoints {
            let entry = directory.entry_mut(name)?;
            entry.rpc_url = Some(url.clone());
        }
        Ok(directory)
    }

    /// Every chain, by id.
    pub fn chains(&self) -> &[ChainEntry] {
        &self.chains
    }

    /// The chain named `name`; the error lists the known names.
    pub fn by_name(&self, name: &str) -> Result<&ChainEntry> {
        self.chains
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| self.unknown(name))
    }

    fn entry_mut(&mut self, name: &str) -> Result<&mut ChainEntry> {
        let unknown = self.unknown(name);
        self.chains
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or(unknown)
    }

    fn unknown(&self, name: &str) -> WalletError {
        if self.chains.is_empty() {
            WalletError::usage(format!(
                "unknown chain `{name}`: no chains are known (is the node up? or pass --deployment FILE)"
            ))
        } else {
            WalletError::usage(format!(
                "unknown chain `{name}`; the chains are {}",
                self.chains
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }

    /// The chain of id `id`.
    pub fn by_id(&self, id: ChainId) -> Option<&ChainEntry> {
        self.chains.iter().find(|c| c.id == id)
    }

    /// The primary chain.
    pub fn primary(&self) -> Result<&ChainEntry> {
        self.chains.iter().find(|c| c.primary).ok_or_else(|| {
            WalletError::usage(
                "no primary chain is known (is the node up? or pass --deployment FILE)",
            )
        })
    }

    /// A chain's name, or `chain N` for an id nobody named.
    pub fn name_of(&self, id: u64) -> String {
        ChainId::try_from(id)
            .ok()
            .and_then(|id| self.by_id(id))
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("chain {id}"))
    }

    /// The id of a chain named by number (`2`, `0x2`) or by name.
    pub fn resolve(&self, text: &str) -> Option<u64> {
        parse_number(text).or_else(|| {
            self.chains
                .iter()
                .find(|c| c.name == text)
                .map(|c| u64::from(c.id))
        })
    }
}

fn chain_id(id: u16, name: &str) -> Result<ChainId> {
    ChainId::new(id).map_err(|e| WalletError::usage(format!("chain {name}: {e}")))
}

fn list(items: impl Iterator<Item = u16>) -> String {
    let items: Vec<String> = items.map(|i| i.to_string()).collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// Parses `--chain-rpc NAME=URL`.
pub fn parse_endpoint(text: &str) -> std::result::Result<(String, Url), String> {
    let (name, url) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=URL"))?;
    if name.is_empty() {
        return Err(format!("`{text}` names no chain (NAME=URL)"));
    }
    let url = Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" => Ok((name.to_owned(), url)),
        other => Err(format!(
            "`{url}`: scheme {other} is not supported; use http://"
        )),
    }
}

/// A number as a JSON number, a `0x` quantity or a decimal string.
pub(crate) fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A JSON value read as a number, tolerantly (see [`parse_number`]).
pub(crate) fn value_number(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => parse_number(s),
        _ => None,
    }
}

fn flexible<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> std::result::Result<T, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    value_number(&value)
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("{value} is not a number in range")))
}

fn flexible_opt<'de, D: Deserializer<'de>, T: TryFrom<u64>>(
    d: D,
) -> std::result::Result<Option<T>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => value_number(&value)
            .and_then(|n| T::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("{value} is not a number in range"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node_today() -> Vec<NodeChainInfo> {
        serde_json::from_value(json!([
            {"id": "0x0", "name": "primary", "kind": "embedded", "primary": true},
            {"id": "0x1", "name": "alpha", "kind": "embedded", "primary": false},
            {"id": "0x2", "name": "beta", "kind": "evm", "primary": false},
        ]))
        .unwrap()
    }

    fn deployment() -> DeploymentFile {
        // The shape `manyfold deploy` writes, with fields the wallet does not read.
        DeploymentFile::parse(
            &json!({
                "verifying_key_digest": format!("0x{}", "11".repeat(32)),
                "genesis_state_root": format!("0x{}", "22".repeat(32)),
                "chains": {
                    "primary": {
                        "id": 0, "evm_chain_id": 31337, "primary": true,
                        "deployer": format!("0x{}", "33".repeat(20)),
                        "settlement": format!("0x{}", "aa".repeat(20)),
                        "poseidon": null, "verifier": null, "from_block": 1,
                        "tokens": [{"id": 0, "address": format!("0x{}", "00".repeat(20)), "decimals": 18}]
                    },
                    "alpha": {
                        "id": 1, "evm_chain_id": 31338, "primary": false,
                        "deployer": format!("0x{}", "33".repeat(20)),
                        "settlement": format!("0x{}", "bb".repeat(20)),
                        "poseidon": null, "verifier": null, "from_block": 1,
                        "tokens": [
                            {"id": 0, "address": format!("0x{}", "00".repeat(20)), "decimals": 18},
                            {"id": 1, "address": format!("0x{}", "cc".repeat(20)), "decimals": 6}
                        ]
                    }
                }
            })
            .to_string(),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn todays_chains_answer_parses_without_the_new_fields() {
        let dir = Directory::merge(Some(node_today()), None, &[]).unwrap();
        assert_eq!(dir.chains().len(), 3);
        let alpha = dir.by_name("alpha").unwrap();
        assert_eq!(alpha.id.get(), 1);
        assert_eq!(alpha.settlement, None);
        assert!(alpha
            .settlement()
            .unwrap_err()
            .to_string()
            .contains("--deployment"));
        assert!(alpha
            .rpc_url()
            .unwrap_err()
            .to_string()
            .contains("--chain-rpc alpha=URL"));
        assert_eq!(alpha.listed_token(TokenId::new(7).unwrap()).unwrap(), None);
        assert_eq!(dir.primary().unwrap().name, "primary");
        let err = dir.by_name("gamma").unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown chain `gamma`; the chains are primary, alpha, beta"
        );
    }

    #[test]
    fn the_extended_chains_answer_parses() {
        let info: Vec<NodeChainInfo> = serde_json::from_value(json!([
            {"id": "0x0", "name": "primary", "kind": "embedded", "primary": true,
             "evmChainId": "0x7a69", "settlement": format!("0x{}", "aa".repeat(20)),
             "rpcUrl": "http://127.0.0.1:8546",
             "tokens": [{"id": "0x0", "address": format!("0x{}", "00".repeat(20)), "decimals": 18}]},
            {"id": 1, "name": "alpha", "primary": false, "evmChainId": 31338,
             "tokens": [{"id": 1, "address": format!("0x{}", "cc".repeat(20)), "decimals": "6"}]},
        ]))
        .unwrap();
        let dir = Directory::merge(Some(info), None, &[]).unwrap();
        let primary = dir.primary().unwrap();
        assert_eq!(
            primary.domain(),
            Some(ChainDomain {
                evm_chain_id: 31_337,
                settlement: Address::repeat_byte(0xaa)
            })
        );
        assert_eq!(
            primary.rpc_url().unwrap().as_str(),
            "http://127.0.0.1:8546/"
        );
        assert_eq!(primary.listed_native().unwrap().unwrap().id, 0);
        let alpha = dir.by_name("alpha").unwrap();
        assert_eq!(alpha.evm_chain_id, Some(31_338));
        assert_eq!(
            alpha
                .listed_token(TokenId::new(1).unwrap())
                .unwrap()
                .unwrap()
                .decimals,
            6
        );
        let err = alpha
            .listed_token(TokenId::new(0).unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "token 0 is not registered on chain alpha (its tokens: 1)"
        );
        assert!(alpha.listed_native().unwrap().is_err());
        assert_eq!(dir.resolve("alpha"), Some(1));
        assert_eq!(dir.resolve("0x1"), Some(1));
        assert_eq!(dir.resolve("2"), Some(2));
        assert_eq!(dir.name_of(1), "alpha");
        assert_eq!(dir.name_of(9), "chain 9");
    }

    #[test]
    fn a_deployment_file_fills_in_and_overrides_and_endpoints_apply_by_name() {
        let endpoints = vec![
            parse_endpoint("alpha=http://127.0.0.1:9000").unwrap(),
            parse_endpoint("beta=http://127.0.0.1:9001").unwrap(),
        ];
        let dir = Directory::merge(Some(node_today()), Some(&deployment()), &endpoints).unwrap();
        let alpha = dir.by_name("alpha").unwrap();
        assert_eq!(alpha.settlement, Some(Address::repeat_byte(0xbb)));
        assert_eq!(alpha.evm_chain_id, Some(31_338));
        assert_eq!(alpha.rpc_url().unwrap().port(), Some(9000));
        // beta is not in the file: what the node said, plus the endpoint.
        let beta = dir.by_name("beta").unwrap();
        assert_eq!(beta.settlement, None);
        assert_eq!(beta.rpc_url().unwrap().port(), Some(9001));

        // Without the node, the file alone.
        let alone = Directory::merge(None, Some(&deployment()), &[]).unwrap();
        assert_eq!(alone.chains().len(), 2);
        assert_eq!(alone.primary().unwrap().name, "primary");

        // An endpoint for a chain nobody knows.
        let err = Directory::merge(
            Some(node_today()),
            None,
            &[parse_endpoint("gamma=http://x").unwrap()],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown chain `gamma`"), "{err}");

        // A file of another deployment.
        let mut other = deployment();
        other.chains.get_mut("alpha").unwrap().id = 2;
        let err = Directory::merge(Some(node_today()), Some(&other), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("chain alpha id 2, the node id 1"), "{err}");
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(parse_endpoint("alpha").unwrap_err().contains("NAME=URL"));
        assert!(parse_endpoint("=http://x").is_err());
        assert!(parse_endpoint("alpha=not a url").is_err());
        assert!(parse_endpoint("alpha=ws://x").unwrap_err().contains("ws"));
        let err = DeploymentFile::parse("{}", "deployment file d.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("d.json"), "{err}");
        let err = DeploymentFile::read(Path::new("/nonexistent/d.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/d.json"), "{err}");
        let bad_id: std::result::Result<Vec<NodeChainInfo>, _> =
            serde_json::from_value(json!([{"id": "0x10000", "name": "x"}]));
        assert!(bad_id.is_err());
        let out_of_range =
            serde_json::from_value::<Vec<NodeChainInfo>>(json!([{"id": 16, "name": "x"}])).unwrap();
        assert!(Directory::merge(Some(out_of_range), None, &[]).is_err());
    }
}
