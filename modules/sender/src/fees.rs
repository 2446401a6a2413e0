//! The fees of first attempts and of replacements, within the configured caps.

use manyfold_chain::FeeEstimate;
use serde::{Deserialize, Serialize};

/// The two EIP-1559 fees of one attempt, in wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fees {
    /// `maxFeePerGas`.
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`.
    pub max_priority_fee_per_gas: u128,
}

/// The hard caps: no attempt pays more per gas than these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeeCaps {
    /// Cap on `maxFeePerGas`.
    pub max_fee_per_gas: u128,
    /// Cap on `maxPriorityFeePerGas`.
    pub max_priority_fee_per_gas: u128,
}

/// A replacement the caps do not allow: the smallest valid bump is above them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StuckAtCap {
    /// The fees a replacement needs at least.
    pub required: Fees,
}

/// The fees of a first attempt: the chain's estimate, each fee clamped to its cap, and
/// the priority fee never above the max fee (EIP-1559 validity).
pub fn initial_fees(estimate: &FeeEstimate, caps: &FeeCaps) -> Fees {
    let max_fee_per_gas = estimate
        .max_fee_per_gas
        .max(estimate.max_priority_fee_per_gas)
        .min(caps.max_fee_per_gas);
    let max_priority_fee_per_gas = estimate
        .max_priority_fee_per_gas
        .min(caps.max_priority_fee_per_gas)
        .min(max_fee_per_gas);
    Fees {
        max_fee_per_gas,
        max_priority_fee_per_gas,
    }
}

/// `fee` raised by `percent`, rounded up, and by one wei at least.
pub fn bump(fee: u128, percent: u64) -> u128 {
    let raised = fee.saturating_mul(100 + u128::from(percent)).div_ceil(100);
    raised.max(fee.saturating_add(1))
}

/// The fees of a replacement of an attempt that paid `previous`: each fee at least
/// `previous` bumped by `percent` (nodes refuse a smaller raise of either), the current
/// estimate where that is higher, within the caps. When the smallest valid bump is above
/// a cap, there is no valid replacement: [`StuckAtCap`].
pub fn replacement_fees(
    previous: &Fees,
    estimate: &FeeEstimate,
    caps: &FeeCaps,
    percent: u64,
) -> Result<Fees, StuckAtCap> {
    let wanted = initial_fees(estimate, caps);
    let required = Fees {
        max_fee_per_gas: bump(previous.max_fee_per_gas, percent),
        max_priority_fee_per_gas: bump(previous.max_priority_fee_per_gas, percent),
    };
    let max_priority_fee_per_gas = wanted
        .max_priority_fee_per_gas
        .max(required.max_priority_fee_per_gas);
    let max_fee_per_gas = wanted
        .max_fee_per_gas
        .max(required.max_fee_per_gas)
        .max(max_priority_fee_per_gas);
    if max_fee_per_gas > caps.max_fee_per_gas
        || max_priority_fee_per_gas > caps.max_priority_fee_per_gas
    {
        return Err(StuckAtCap { required });
    }
    Ok(Fees {
        max_fee_per_gas,
        max_priority_fee_per_gas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn estimate(max_fee: u128, tip: u128) -> FeeEstimate {
        FeeEstimate {
            base_fee_per_gas: max_fee.saturating_sub(tip) / 2,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
        }
    }

    const CAPS: FeeCaps = FeeCaps {
        max_fee_per_gas: 1_000,
        max_priority_fee_per_gas: 100,
    };

    #[test]
    fn first_attempts_take_the_estimate_within_the_caps() {
        let fees = initial_fees(&estimate(300, 20), &CAPS);
        assert_eq!(
            (fees.max_fee_per_gas, fees.max_priority_fee_per_gas),
            (300, 20)
        );
        let fees = initial_fees(&estimate(5_000, 500), &CAPS);
        assert_eq!(
            (fees.max_fee_per_gas, fees.max_priority_fee_per_gas),
            (1_000, 100)
        );
        let tight = FeeCaps {
            max_fee_per_gas: 50,
            max_priority_fee_per_gas: 100,
        };
        let fees = initial_fees(&estimate(300, 80), &tight);
        assert_eq!(
            (fees.max_fee_per_gas, fees.max_priority_fee_per_gas),
            (50, 50),
            "the tip never exceeds the max fee"
        );
    }

    #[test]
    fn bumps_round_up_and_move_at_least_one_wei() {
        assert_eq!(bump(100, 10), 110);
        assert_eq!(bump(101, 10), 112, "111.1 rounds up");
        assert_eq!(bump(0, 10), 1);
        assert_eq!(bump(5, 10), 6);
        assert_eq!(bump(u128::MAX, 10), u128::MAX);
    }

    #[test]
    fn replacements_bump_both_fees_or_take_a_higher_estimate() {
        let previous = Fees {
            max_fee_per_gas: 300,
            max_priority_fee_per_gas: 20,
        };
        let fees = replacement_fees(&previous, &estimate(300, 20), &CAPS, 10).unwrap();
        assert_eq!(
            (fees.max_fee_per_gas, fees.max_priority_fee_per_gas),
            (330, 22)
        );
        let fees = replacement_fees(&previous, &estimate(600, 50), &CAPS, 10).unwrap();
        assert_eq!(
            (fees.max_fee_per_gas, fees.max_priority_fee_per_gas),
            (600, 50)
        );
        let at_cap = Fees {
            max_fee_per_gas: 950,
            max_priority_fee_per_gas: 20,
        };
        let stuck = replacement_fees(&at_cap, &estimate(300, 20), &CAPS, 10).unwrap_err();
        assert_eq!(stuck.required.max_fee_per_gas, 1_045);
        let tip_at_cap = Fees {
            max_fee_per_gas: 300,
            max_priority_fee_per_gas: 100,
        };
        assert!(replacement_fees(&tip_at_cap, &estimate(300, 20), &CAPS, 10).is_err());
    }

    proptest! {
        #[test]
        fn a_replacement_is_a_valid_bump_within_the_caps_or_stuck(
            previous in (0u128..2_000, 0u128..2_000),
            estimate_fees in (0u128..3_000, 0u128..3_000),
            caps in (1u128..2_500, 0u128..2_500),
            percent in 10u64..50,
        ) {
            let caps = FeeCaps {
                max_fee_per_gas: caps.0.max(caps.1),
                max_priority_fee_per_gas: caps.0.min(caps.1),
            };
            let previous = Fees {
                max_fee_per_gas: previous.0.max(previous.1),
                max_priority_fee_per_gas: previous.0.min(previous.1),
            };
            let estimate = estimate(estimate_fees.0, estimate_fees.1);
            let first = initial_fees(&estimate, &caps);
            prop_assert!(first.max_fee_per_gas <= caps.max_fee_per_gas);
            prop_assert!(first.max_priority_fee_per_gas <= caps.max_priority_fee_per_gas);
            prop_assert!(first.max_priority_fee_per_gas <= first.max_fee_per_gas);
            let need_fee = (previous.max_fee_per_gas * (100 + u128::from(percent))).div_ceil(100)
                .max(previous.max_fee_per_gas + 1);
            let need_tip = (previous.max_priority_fee_per_gas * (100 + u128::from(percent)))
                .div_ceil(100)
                .max(previous.max_priority_fee_per_gas + 1);
            match replacement_fees(&previous, &estimate, &caps, percent) {
                Ok(fees) => {
                    prop_assert!(fees.max_fee_per_gas >= need_fee);
                    prop_assert!(fees.max_priority_fee_per_gas >= need_tip);
                    prop_assert!(fees.max_fee_per_gas * 100
                        >= previous.max_fee_per_gas * (100 + u128::from(percent)));
                    prop_assert!(fees.max_fee_per_gas <= caps.max_fee_per_gas);
                    prop_assert!(fees.max_priority_fee_per_gas <= caps.max_priority_fee_per_gas);
                    prop_assert!(fees.max_priority_fee_per_gas <= fees.max_fee_per_gas);
                }
                Err(_) => prop_assert!(
                    need_fee.max(need_tip) > caps.max_fee_per_gas
                        || need_tip > caps.max_priority_fee_per_gas
                ),
            }
        }
    }
}
