//! When a chain's blocks count as final: the rule each chain is configured with.

use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::types::{BlockId, BlockTag};

/// Which of a chain's blocks the node treats as final: watchers read events only up to it,
/// and the durable sender counts a transaction settled only there (DESIGN §7).
///
/// In config: `finality = "finalized"`, `finality = "safe"`, or `finality = N` (an integer,
/// also accepted as a string of digits for environment variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Finality {
    /// The chain's own `finalized` head.
    #[default]
    Finalized,
    /// The chain's own `safe` head.
    Safe,
    /// A block with at least N blocks on top of it: `latest - N`. Zero trusts the latest
    /// block, which suits only a chain that never reorgs (the embedded devnet chain).
    Blocks(u64),
}

impl Finality {
    /// The newest final block, given the latest block's height: a tag to query when the
    /// chain decides, a height otherwise, or `None` when no block is deep enough yet.
    pub fn target(self, latest: u64) -> Option<BlockId> {
        match self {
            Self::Finalized => Some(BlockId::Tag(BlockTag::Finalized)),
            Self::Safe => Some(BlockId::Tag(BlockTag::Safe)),
            Self::Blocks(depth) => latest.checked_sub(depth).map(BlockId::Number),
        }
    }

    /// Whether the rule needs the latest height to be evaluated (tags do not).
    pub fn needs_latest(self) -> bool {
        matches!(self, Self::Blocks(_))
    }
}

impl std::fmt::Display for Finality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Finalized => f.write_str("finalized"),
            Self::Safe => f.write_str("safe"),
            Self::Blocks(n) => write!(f, "{n}"),
        }
    }
}

/// A finality rule that is neither `finalized`, `safe` nor a block count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("finality must be \"finalized\", \"safe\" or a number of blocks, not `{0}`")]
pub struct BadFinality(pub String);

impl FromStr for Finality {
    type Err = BadFinality;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "finalized" => Ok(Self::Finalized),
            "safe" => Ok(Self::Safe),
            digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => digits
                .parse()
                .map(Self::Blocks)
                .map_err(|_| BadFinality(text.to_owned())),
            _ => Err(BadFinality(text.to_owned())),
        }
    }
}

impl Serialize for Finality {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Blocks(n) => s.serialize_u64(*n),
            other => s.collect_str(other),
        }
    }
}

impl<'de> Deserialize<'de> for Finality {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Finality;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"finalized\", \"safe\" or a number of blocks")
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Finality, E> {
                Ok(Finality::Blocks(n))
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Finality, E> {
                u64::try_from(n)
                    .map(Finality::Blocks)
                    .map_err(|_| E::custom(BadFinality(n.to_string())))
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Finality, E> {
                text.parse().map_err(E::custom)
            }
        }

        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_and_block_counts() {
        assert_eq!("finalized".parse(), Ok(Finality::Finalized));
        assert_eq!("safe".parse(), Ok(Finality::Safe));
        assert_eq!("12".parse(), Ok(Finality::Blocks(12)));
        assert_eq!("0".parse(), Ok(Finality::Blocks(0)));
        for bad in [
            "latest",
            "",
            "-1",
            "1.5",
            "Finalized",
            "12 blocks",
            "99999999999999999999",
        ] {
            let err = bad.parse::<Finality>().unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn deserialises_from_config_values_and_round_trips() {
        let parse = |v: serde_json::Value| serde_json::from_value::<Finality>(v);
        assert_eq!(parse(serde_json::json!("safe")).unwrap(), Finality::Safe);
        assert_eq!(parse(serde_json::json!(64)).unwrap(), Finality::Blocks(64));
        assert_eq!(
            parse(serde_json::json!("64")).unwrap(),
            Finality::Blocks(64)
        );
        assert!(parse(serde_json::json!(-3)).is_err());
        assert!(parse(serde_json::json!(true)).is_err());
        assert!(parse(serde_json::json!("soon")).is_err());
        for rule in [Finality::Finalized, Finality::Safe, Finality::Blocks(7)] {
            let value = serde_json::to_value(rule).unwrap();
            assert_eq!(parse(value).unwrap(), rule);
            assert_eq!(rule.to_string().parse(), Ok(rule));
        }
    }

    #[test]
    fn evaluates_against_the_latest_height() {
        assert_eq!(
            Finality::Finalized.target(100),
            Some(BlockId::Tag(BlockTag::Finalized))
        );
        assert_eq!(Finality::Safe.target(0), Some(BlockId::Tag(BlockTag::Safe)));
        assert_eq!(Finality::Blocks(12).target(100), Some(BlockId::Number(88)));
        assert_eq!(Finality::Blocks(12).target(12), Some(BlockId::Number(0)));
        assert_eq!(
            Finality::Blocks(12).target(11),
            None,
            "no block has 12 on top of it yet"
        );
        assert_eq!(Finality::Blocks(0).target(5), Some(BlockId::Number(5)));
        assert!(Finality::Blocks(3).needs_latest() && !Finality::Safe.needs_latest());
        assert_eq!(Finality::default(), Finality::Finalized);
    }
}
