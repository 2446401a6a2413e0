//! EIP-1559 base fee.

/// EIP-1559's elasticity multiplier: a block's gas target is half its limit.
pub const ELASTICITY: u64 = 2;
/// EIP-1559's base fee change denominator: at most 1/8 up or down per block.
pub const CHANGE_DENOMINATOR: u64 = 8;

/// The base fee of the block after one with `base_fee`, `gas_used` and `gas_limit`
/// (EIP-1559's formula).
pub fn next_base_fee(base_fee: u64, gas_used: u64, gas_limit: u64) -> u64 {
    let target = gas_limit / ELASTICITY;
    if target == 0 || gas_used == target {
        return base_fee;
    }
    // u128: base_fee * delta overflows u64 for large fees.
    let (base, target_128) = (u128::from(base_fee), u128::from(target));
    if gas_used > target {
        let delta =
            base * u128::from(gas_used - target) / target_128 / u128::from(CHANGE_DENOMINATOR);
        let up = delta.max(1);
        u64::try_from(base + up).unwrap_or(u64::MAX)
    } else {
        let delta =
            base * u128::from(target - gas_used) / target_128 / u128::from(CHANGE_DENOMINATOR);
        u64::try_from(base - delta).expect("below the previous base fee")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_fee_follows_eip_1559() {
        let gwei = 1_000_000_000;
        // At target: unchanged. Full: +12.5%. Empty: -12.5%.
        assert_eq!(next_base_fee(gwei, 15_000_000, 30_000_000), gwei);
        assert_eq!(next_base_fee(gwei, 30_000_000, 30_000_000), 1_125_000_000);
        assert_eq!(next_base_fee(gwei, 0, 30_000_000), 875_000_000);
        // Half way above target: +6.25%; a quarter of the target below: -3.125%.
        assert_eq!(next_base_fee(gwei, 22_500_000, 30_000_000), 1_062_500_000);
        assert_eq!(next_base_fee(gwei, 11_250_000, 30_000_000), 968_750_000);
        // Above target the fee rises by at least 1 wei, even from tiny fees.
        assert_eq!(next_base_fee(1, 15_000_001, 30_000_000), 2);
        // From 0 it stays 0 when empty, and rises by 1 when busy.
        assert_eq!(next_base_fee(0, 0, 30_000_000), 0);
        assert_eq!(next_base_fee(0, 30_000_000, 30_000_000), 1);
        // No overflow near the top.
        assert_eq!(next_base_fee(u64::MAX, 30_000_000, 30_000_000), u64::MAX);
    }
}
