//! Serde of integers as Ethereum-RPC quantities: `"0x"`-prefixed hex, no leading zeros.

use serde::{de::Error, Deserialize, Deserializer, Serializer};

/// Serialises an integer as a quantity.
pub fn serialize<T: Copy + Into<u64>, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{:#x}", (*value).into()))
}

/// Parses a quantity into any integer type it fits.
pub fn deserialize<'de, T: TryFrom<u64>, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    let value = parse(&text).map_err(D::Error::custom)?;
    T::try_from(value).map_err(|_| D::Error::custom(format!("quantity {text} is out of range")))
}

/// Parses `0x`-prefixed hex into a `u64`, rejecting leading zeros like Ethereum RPC.
pub fn parse(text: &str) -> Result<u64, String> {
    u64::try_from(parse_u128(text)?).map_err(|_| format!("quantity `{text}` does not fit 64 bits"))
}

/// Parses `0x`-prefixed hex into a `u128`, rejecting leading zeros like Ethereum RPC.
pub fn parse_u128(text: &str) -> Result<u128, String> {
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| format!("quantity `{text}` lacks the 0x prefix"))?;
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return Err(format!("quantity `{text}` is empty or has leading zeros"));
    }
    u128::from_str_radix(digits, 16)
        .map_err(|e| format!("quantity `{text}` is not a 128-bit hex number: {e}"))
}

/// The same for `Option`s.
pub mod opt {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises `Some` as a quantity and `None` as `null`.
    pub fn serialize<T: Copy + Into<u64>, S: Serializer>(
        value: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    /// Parses `null` or a quantity.
    pub fn deserialize<'de, T: TryFrom<u64>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapper<T: TryFrom<u64>>(#[serde(deserialize_with = "super::deserialize")] T);
        Ok(Option::<Wrapper<T>>::deserialize(d)?.map(|w| w.0))
    }
}
