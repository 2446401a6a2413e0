//! What one durable sender is configured with.

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SenderError};

/// The smallest fee bump a replacement may carry, in percent: what geth-like pools require
/// to replace a pending transaction (REFERENCES.md: ≥ 1.10× on both fees).
pub const MIN_BUMP_PERCENT: u64 = 10;

/// One sender: a chain, a key, and the rules its transactions follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderConfig {
    /// The chain's name in the node's config: a label for logs and metrics.
    pub chain: String,
    /// The EVM chain id (EIP-155): signed into every transaction, checked against the
    /// chain at start-up, and half of the sender's storage namespace.
    pub chain_id: u64,
    /// The sending account: the other half of the namespace; the signer must sign for it.
    pub sender: Address,
    /// Hard cap on `maxFeePerGas`, in wei; no attempt ever exceeds it.
    pub max_fee_per_gas: u128,
    /// Hard cap on `maxPriorityFeePerGas`, in wei.
    pub max_priority_fee_per_gas: u128,
    /// How much a replacement raises both fees over the attempt it replaces, in percent;
    /// at least [`MIN_BUMP_PERCENT`].
    #[serde(default = "defaults::bump_percent")]
    pub bump_percent: u64,
    /// Blocks the first unmined transaction waits after its latest attempt was signed
    /// before it is replaced.
    #[serde(default = "defaults::blocks_before_replacement")]
    pub blocks_before_replacement: u64,
    /// Most transactions sent and not yet mined at once.
    #[serde(default = "defaults::max_in_flight")]
    pub max_in_flight: usize,
    /// How gas limits are chosen.
    #[serde(default)]
    pub gas: GasPolicy,
    /// Refusals in a row (estimating the next request reverts with nothing ahead of it
    /// unmined) before the sender stops on it as refused by the contract; answers at one
    /// head within `refusal_spacing_ms` count once (a lagging or load-balanced endpoint can
    /// answer from an old state for a moment).
    #[serde(default = "defaults::refusals_before_stop")]
    pub refusals_before_stop: u32,
    /// Milliseconds after a counted refusal before another at the same head counts (a
    /// chain that makes no block without transactions never moves its head).
    #[serde(default = "defaults::refusal_spacing_ms")]
    pub refusal_spacing_ms: u64,
    /// When a transaction counts as final: the chain's finality rule (DESIGN §7). The
    /// sender reads its nonce at the newest block the rule calls final.
    #[serde(default)]
    pub finality: manyfold_chain::Finality,
}

/// How a transaction's gas limit is chosen when its request names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GasPolicy {
    /// The chain's `estimate_gas`, plus this many percent.
    #[serde(default = "defaults::margin_percent")]
    pub margin_percent: u64,
    /// No transaction's gas limit exceeds this, estimated or given.
    #[serde(default = "defaults::max_gas_limit")]
    pub max_gas_limit: u64,
}

impl Default for GasPolicy {
    fn default() -> Self {
        Self {
            margin_percent: defaults::margin_percent(),
            max_gas_limit: defaults::max_gas_limit(),
        }
    }
}

impl GasPolicy {
    /// The gas limit for an estimate: the estimate plus the margin, at most the maximum.
    pub fn limit_for(&self, estimate: u64) -> u64 {
        let padded = u128::from(estimate) * u128::from(100 + self.margin_percent) / 100;
        u64::try_from(padded)
            .unwrap_or(u64::MAX)
            .min(self.max_gas_limit)
    }
}

mod defaults {
    pub(super) fn bump_percent() -> u64 {
        super::MIN_BUMP_PERCENT + 2
    }
    pub(super) fn blocks_before_replacement() -> u64 {
        10
    }
    pub(super) fn refusals_before_stop() -> u32 {
        3
    }
    pub(super) fn refusal_spacing_ms() -> u64 {
        5_000
    }
    pub(super) fn max_in_flight() -> usize {
        4
    }
    pub(super) fn margin_percent() -> u64 {
        20
    }
    pub(super) fn max_gas_limit() -> u64 {
        15_000_000
    }
}

impl SenderConfig {
    /// A configuration with the given identity and caps, and defaults for the rest: a 12%
    /// bump, replacement after 10 blocks, 4 in flight, estimates plus 20% up to 15M gas.
    pub fn new(
        chain: impl Into<String>,
        chain_id: u64,
        sender: Address,
        max_fee_per_gas: u128,
        max_priority_fee_per_gas: u128,
    ) -> Self {
        Self {
            chain: chain.into(),
            chain_id,
            sender,
            max_fee_per_gas,
            max_priority_fee_per_gas,
            bump_percent: defaults::bump_percent(),
            blocks_before_replacement: defaults::blocks_before_replacement(),
            max_in_flight: defaults::max_in_flight(),
            gas: GasPolicy::default(),
            refusals_before_stop: defaults::refusals_before_stop(),
            refusal_spacing_ms: defaults::refusal_spacing_ms(),
            finality: manyfold_chain::Finality::default(),
        }
    }

    /// Refuses settings the sender cannot honour.
    pub fn validate(&self) -> Result<()> {
        let refuse = |why: String| Err(SenderError::Config(why));
        if self.bump_percent < MIN_BUMP_PERCENT {
            return refuse(format!(
                "bump_percent is {}, chains refuse replacements under {MIN_BUMP_PERCENT}%",
                self.bump_percent
            ));
        }
        if self.max_in_flight == 0 {
            return refuse("max_in_flight is 0: nothing could ever be sent".into());
        }
        if self.refusals_before_stop == 0 {
            return refuse(
                "refusals_before_stop is 0: one stale answer would stop the sender".into(),
            );
        }
        if self.blocks_before_replacement == 0 {
            return refuse("blocks_before_replacement is 0: every tick would replace".into());
        }
        if self.max_priority_fee_per_gas > self.max_fee_per_gas {
            return refuse(format!(
                "max_priority_fee_per_gas ({}) is above max_fee_per_gas ({})",
                self.max_priority_fee_per_gas, self.max_fee_per_gas
            ));
        }
        if self.max_fee_per_gas == 0 {
            return refuse("max_fee_per_gas is 0".into());
        }
        if self.gas.max_gas_limit < 21_000 {
            return refuse(format!(
                "gas.max_gas_limit is {}, below a plain transfer's 21000",
                self.gas.max_gas_limit
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SenderConfig {
        SenderConfig::new("l1", 1, Address::repeat_byte(1), 100, 10)
    }

    #[test]
    fn defaults_validate_and_bad_settings_are_refused() {
        config().validate().unwrap();
        let bad: [fn(&mut SenderConfig); 6] = [
            |c| c.bump_percent = 9,
            |c| c.max_in_flight = 0,
            |c| c.blocks_before_replacement = 0,
            |c| c.max_priority_fee_per_gas = 101,
            |c| c.max_fee_per_gas = 0,
            |c| c.gas.max_gas_limit = 20_999,
        ];
        for (i, spoil) in bad.iter().enumerate() {
            let mut c = config();
            spoil(&mut c);
            if i == 4 {
                c.max_priority_fee_per_gas = 0;
            }
            assert!(
                matches!(c.validate(), Err(SenderError::Config(_))),
                "case {i}"
            );
        }
    }

    #[test]
    fn gas_limits_get_the_margin_within_the_maximum() {
        let policy = GasPolicy {
            margin_percent: 25,
            max_gas_limit: 1_000_000,
        };
        assert_eq!(policy.limit_for(100_000), 125_000);
        assert_eq!(policy.limit_for(900_000), 1_000_000);
        assert_eq!(policy.limit_for(u64::MAX), 1_000_000);
    }

    #[test]
    fn parses_from_json_with_defaults() {
        let c: SenderConfig = serde_json::from_value(serde_json::json!({
            "chain": "l1",
            "chain_id": 1,
            "sender": "0x0101010101010101010101010101010101010101",
            "max_fee_per_gas": 100,
            "max_priority_fee_per_gas": 10,
        }))
        .unwrap();
        assert_eq!(c, config());
    }
}
