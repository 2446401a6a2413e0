//! The plugin's own keys of a `[chains.NAME]` section.

use std::time::Duration;

use manyfold_chain::{ConfigError, PluginSection};
use url::Url;

use crate::signer::SignerSource;

/// How an [`crate::EvmChain`] talks to its endpoint.
///
/// Built from a `[chains.NAME]` section by [`EvmConfig::from_section`], or by hand
/// ([`EvmConfig::new`] and the public fields) in tests and tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmConfig {
    /// The chain's name in the node's config: the `chain` label of logs and metrics.
    pub name: String,
    /// `url`: the JSON-RPC endpoint (`http://`; `https://` needs the `tls` feature).
    pub url: Url,
    /// `chain_id`: the EVM chain id (EIP-155) the endpoint must report; checked when the
    /// chain is built. `None` accepts whatever the endpoint reports (and logs it).
    pub chain_id: Option<u64>,
    /// `max_log_range`: most blocks one `eth_getLogs` request covers. Default 1000.
    pub max_log_range: u64,
    /// `request_timeout_ms`: how long one request may take before it counts as a timeout.
    /// Default 10000.
    pub request_timeout: Duration,
    /// `max_retries`: how many times a request that failed transiently (transport error,
    /// timeout, rate limit) is tried again, with exponential backoff. Default 3.
    pub max_retries: u32,
    /// `retry_backoff_ms`: the first backoff; each retry doubles it, up to
    /// [`EvmConfig::max_backoff`]. Default 200.
    pub retry_backoff: Duration,
    /// `max_backoff_ms`: the longest backoff between two tries. Default 5000.
    pub max_backoff: Duration,
    /// `poll_interval_ms`: how often the node's watchers and sender poll this chain.
    /// Default 2000. The plugin itself does not poll; it carries the setting for them.
    pub poll_interval: Duration,
    /// `signer_key_file` or `signer_key_env`: where the sending key comes from, if this
    /// chain sends transactions.
    pub signer: Option<SignerSource>,
    /// `verifies_proofs`: the chain has Manyfold's verifier precompile (DESIGN §10: a
    /// revm chain with it installed, such as `manyfold chain` run as its own process), so
    /// it can be the primary. Default false. A declaration, checked when the chain is
    /// built ([`crate::EvmChain::check_verifier`]): a chain that does not answer as the
    /// precompile does is refused, since a primary without it could never verify a proof
    /// and every block would stop at commit.
    pub verifies_proofs: bool,
}

/// The `kind` this plugin registers under.
pub const KIND: &str = "evm";

/// Every key the plugin takes from its section.
pub const KEYS: [&str; 11] = [
    "url",
    "chain_id",
    "max_log_range",
    "request_timeout_ms",
    "max_retries",
    "retry_backoff_ms",
    "max_backoff_ms",
    "poll_interval_ms",
    "signer_key_file",
    "signer_key_env",
    "verifies_proofs",
];

impl EvmConfig {
    /// A configuration for chain `name` at `url`, with the defaults for the rest.
    pub fn new(name: impl Into<String>, url: Url) -> Self {
        Self {
            name: name.into(),
            url,
            chain_id: None,
            max_log_range: 1000,
            request_timeout: Duration::from_secs(10),
            max_retries: 3,
            retry_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            poll_interval: Duration::from_secs(2),
            signer: None,
            verifies_proofs: false,
        }
    }

    /// Takes the plugin's keys from `section` (see the crate's README for each), leaving
    /// the rest for the registry to refuse by name.
    pub fn from_section(section: &mut PluginSection) -> Result<Self, ConfigError> {
        let raw_url: String = section.require("url")?;
        let url = Url::parse(&raw_url).map_err(|e| section.invalid("url", e))?;
        match url.scheme() {
            "http" => {}
            "https" if cfg!(feature = "tls") => {}
            "https" => {
                return Err(section.invalid(
                    "url",
                    "https endpoints need manyfold-chain-evm built with the `tls` feature",
                ))
            }
            other => {
                return Err(section.invalid(
                    "url",
                    format!("scheme `{other}` is not supported; use http:// (or https:// with the `tls` feature)"),
                ))
            }
        }
        let mut config = Self::new(section.chain(), url);
        config.chain_id = section.take("chain_id")?;
        config.max_log_range = section.take_or("max_log_range", config.max_log_range)?;
        if config.max_log_range == 0 {
            return Err(section.invalid("max_log_range", "must be at least 1"));
        }
        let millis = |section: &mut PluginSection, key: &str, default: Duration| {
            let ms: u64 = section.take_or(key, default.as_millis() as u64)?;
            if ms == 0 {
                return Err(section.invalid(key, "must be at least 1 ms"));
            }
            Ok(Duration::from_millis(ms))
        };
        config.request_timeout = millis(section, "request_timeout_ms", config.request_timeout)?;
        config.retry_backoff = millis(section, "retry_backoff_ms", config.retry_backoff)?;
        config.max_backoff = millis(section, "max_backoff_ms", config.max_backoff)?;
        config.poll_interval = millis(section, "poll_interval_ms", config.poll_interval)?;
        config.max_retries = section.take_or("max_retries", config.max_retries)?;
        if config.max_retries > 20 {
            // Doubling backoffs make 20 retries hours long: surely a typo.
            return Err(section.invalid("max_retries", "at most 20"));
        }
        config.signer = SignerSource::from_section(section)?;
        config.verifies_proofs = section.take_or("verifies_proofs", false)?;
        Ok(config)
    }

    /// The backoff before retry number `retry` (0 for the first retry): the base doubled
    /// `retry` times, at most [`EvmConfig::max_backoff`].
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.retry_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn section(value: serde_json::Value) -> PluginSection {
        PluginSection::new("l2", KIND, value.as_object().unwrap().clone())
    }

    #[test]
    fn defaults_and_every_key() {
        let mut s = section(json!({"url": "http://127.0.0.1:8545"}));
        let c = EvmConfig::from_section(&mut s).unwrap();
        s.finish().unwrap();
        assert_eq!(c.name, "l2");
        assert_eq!(c.max_log_range, 1000);
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert_eq!(c.signer, None);
        assert!(!c.verifies_proofs, "a secondary unless declared");

        let mut s = section(json!({
            "url": "http://localhost:1", "chain_id": 5, "max_log_range": 7,
            "request_timeout_ms": 50, "max_retries": 0, "retry_backoff_ms": 1,
            "max_backoff_ms": 2, "poll_interval_ms": 3, "signer_key_env": "KEY",
            "verifies_proofs": true,
        }));
        let c = EvmConfig::from_section(&mut s).unwrap();
        s.finish().unwrap();
        assert_eq!(c.chain_id, Some(5));
        assert_eq!(c.max_log_range, 7);
        assert_eq!(c.request_timeout, Duration::from_millis(50));
        assert_eq!(c.max_retries, 0);
        assert_eq!(c.poll_interval, Duration::from_millis(3));
        assert_eq!(c.signer, Some(SignerSource::Env("KEY".into())));
        assert!(c.verifies_proofs);
    }

    #[test]
    fn bad_values_are_refused_by_key() {
        for (value, key) in [
            (json!({}), "url"),
            (json!({"url": "not a url"}), "url"),
            (json!({"url": "ws://127.0.0.1:1"}), "url"),
            (
                json!({"url": "http://x", "max_log_range": 0}),
                "max_log_range",
            ),
            (
                json!({"url": "http://x", "request_timeout_ms": 0}),
                "request_timeout_ms",
            ),
            (json!({"url": "http://x", "max_retries": 99}), "max_retries"),
            (json!({"url": "http://x", "max_retries": -1}), "max_retries"),
            (
                json!({"url": "http://x", "verifies_proofs": "yes"}),
                "verifies_proofs",
            ),
        ] {
            let err = EvmConfig::from_section(&mut section(value.clone())).unwrap_err();
            assert!(err.to_string().contains(key), "{value}: {err}");
        }
        #[cfg(not(feature = "tls"))]
        {
            let err =
                EvmConfig::from_section(&mut section(json!({"url": "https://x"}))).unwrap_err();
            assert!(err.to_string().contains("`tls` feature"), "{err}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let mut c = EvmConfig::new("x", Url::parse("http://x").unwrap());
        c.retry_backoff = Duration::from_millis(100);
        c.max_backoff = Duration::from_millis(750);
        let got: Vec<u128> = (0..6).map(|r| c.backoff(r).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 750, 750, 750]);
        assert_eq!(c.backoff(u32::MAX), Duration::from_millis(750));
    }
}
