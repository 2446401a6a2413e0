//! L2 amounts: 18-decimal integers.
//!
//! Every token has 18 decimals on L2, whatever its decimals on each chain, so one token id
//! means the same quantity everywhere. An amount is at most `u128::MAX`; balances and
//! reserves share that range and every addition is checked against it.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TypesError};

/// Decimals of every L2 amount.
pub const L2_DECIMALS: u8 = 18;

/// The most decimals a chain's token may have; beyond this `10^(d-18)` would exceed the
/// range conversions are computed in.
pub const MAX_LOCAL_DECIMALS: u8 = 36;

/// A token quantity in 18-decimal L2 units.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Amount(#[serde(with = "hex_u128")] pub u128);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);
    /// The largest amount (and balance, and reserve).
    pub const MAX: Amount = Amount(u128::MAX);

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, or `None` if `other` is larger.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// Converts `value`, in a chain's local units with `decimals` decimals, to L2 units.
    ///
    /// Fails if the result exceeds [`Amount::MAX`] or, for tokens with more than 18
    /// decimals, if `value` has digits below L2 precision (they would be lost).
    pub fn from_local(value: U256, decimals: u8) -> Result<Amount> {
        let scaled = if decimals <= L2_DECIMALS {
            value.checked_mul(pow10(L2_DECIMALS - decimals)?)
        } else {
            let divisor = pow10(decimals - L2_DECIMALS)?;
            if value % divisor != U256::ZERO {
                return Err(TypesError::Amount(format!(
                    "{value} with {decimals} decimals has digits below 18-decimal precision"
                )));
            }
            Some(value / divisor)
        };
        scaled
            .filter(|v| *v <= U256::from(u128::MAX))
            .map(|v| Amount(v.to::<u128>()))
            .ok_or_else(|| {
                TypesError::Amount(format!(
                    "{value} with {decimals} decimals exceeds the L2 range"
                ))
            })
    }

    /// Converts to a chain's local units with `decimals` decimals.
    ///
    /// Fails if the amount has digits below the local precision (a withdrawal of such an
    /// amount could not be paid exactly).
    pub fn to_local(self, decimals: u8) -> Result<U256> {
        let value = U256::from(self.0);
        if decimals >= L2_DECIMALS {
            Ok(value * pow10(decimals - L2_DECIMALS)?)
        } else {
            let divisor = pow10(L2_DECIMALS - decimals)?;
            if value % divisor != U256::ZERO {
                return Err(TypesError::Amount(format!(
                    "{} has digits below {decimals}-decimal precision",
                    self.0
                )));
            }
            Ok(value / divisor)
        }
    }
}

fn pow10(exp: u8) -> Result<U256> {
    if exp > MAX_LOCAL_DECIMALS {
        return Err(TypesError::Amount(format!(
            "token decimals differ from 18 by {exp}, more than {MAX_LOCAL_DECIMALS} supported"
        )));
    }
    Ok(U256::from(10u8).pow(U256::from(exp)))
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Serde of `u128` as an Ethereum-RPC quantity: `"0x"`-prefixed hex without leading zeros.
pub mod hex_u128 {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Serialises `value` as a hex quantity.
    pub fn serialize<S: Serializer>(value: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{value:#x}"))
    }

    /// Parses a hex quantity.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse(&text).map_err(D::Error::custom)
    }

    /// Parses `0x`-prefixed hex into a `u128`, rejecting leading zeros like Ethereum RPC.
    pub fn parse(text: &str) -> Result<u128, String> {
        crate::quantity::parse_u128(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn local_conversion_round_trips(units: u64, decimals in 0u8..=36) {
            let local = U256::from(units);
            match Amount::from_local(local, decimals) {
                Ok(amount) => prop_assert_eq!(amount.to_local(decimals).unwrap(), local),
                // Only tokens with more than 18 decimals lose digits; all u64 fit the range below.
                Err(_) => prop_assert!(decimals > 18 && units % 10u64.pow((decimals - 18) as u32) != 0),
            }
        }

        #[test]
        fn hex_quantity_round_trips(x: u128) {
            prop_assert_eq!(hex_u128::parse(&format!("{x:#x}")).unwrap(), x);
        }
    }

    #[test]
    fn conversion_limits() {
        // One whole USDC (6 decimals) is 10^18 L2 units.
        assert_eq!(
            Amount::from_local(U256::from(1_000_000u64), 6).unwrap(),
            Amount(10u128.pow(18))
        );
        assert!(Amount::from_local(U256::MAX, 18).is_err());
        assert!(Amount::from_local(U256::from(u128::MAX), 17).is_err());
        assert!(Amount(1).to_local(6).is_err());
        assert!(hex_u128::parse("0x01").is_err());
        assert!(hex_u128::parse("12").is_err());
    }
}
