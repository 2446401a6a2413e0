//! Ids of accounts, tokens and settlement chains, and nonces.
//!
//! Each id's range is the number of leaves of the tree it indexes, so a valid id always
//! has a leaf. The limits are protocol constants: the circuit and the contracts use them.

use serde::{Deserialize, Serialize};

use crate::error::{Result, TypesError};

macro_rules! bounded_id {
    ($(#[$doc:meta])* $name:ident($inner:ty), bits = $bits:expr, kind = $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name($inner);

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                crate::quantity::serialize(&u64::from(*self), s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let value: u64 = crate::quantity::deserialize(d)?;
                Self::try_from(value).map_err(serde::de::Error::custom)
            }
        }

        impl $name {
            /// Bits of the id: the depth of its tree, counted in binary levels.
            pub const BITS: u32 = $bits;
            /// The largest valid id.
            pub const MAX: $inner = ((1u64 << $bits) - 1) as $inner;

            /// The id `value`, if it is in range.
            pub fn new(value: $inner) -> Result<Self> {
                Self::try_from(value as u64)
            }

            /// The id as an integer.
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl TryFrom<u64> for $name {
            type Error = TypesError;
            fn try_from(value: u64) -> Result<Self> {
                if value > Self::MAX as u64 {
                    return Err(TypesError::IdOutOfRange { kind: $kind, value, max: Self::MAX as u64 });
                }
                Ok(Self(value as $inner))
            }
        }

        impl From<$name> for u64 {
            fn from(id: $name) -> u64 {
                id.0 as u64
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

bounded_id!(
    /// An L2 account: a leaf of the account tree (2^24 leaves).
    AccountId(u32), bits = 24, kind = "account id"
);
bounded_id!(
    /// An L2 token, the same on every chain: a leaf of a balance tree (2^10 leaves).
    TokenId(u16), bits = 10, kind = "token id"
);
bounded_id!(
    /// A settlement chain, numbered by the rollup (not the L1's EVM chain id): 16 at most.
    ChainId(u16), bits = 4, kind = "chain id"
);

/// An account's transaction counter; each L2 transaction uses the current value and
/// increments it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Nonce(pub u32);

impl Nonce {
    /// The next nonce, or `None` when the counter is exhausted.
    pub fn next(self) -> Option<Nonce> {
        self.0.checked_add(1).map(Nonce)
    }
}

impl std::fmt::Display for Nonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_match_tree_sizes() {
        assert_eq!(AccountId::MAX, (1 << 24) - 1);
        assert_eq!(TokenId::MAX, 1023);
        assert_eq!(ChainId::MAX, 15);
        assert!(AccountId::new(1 << 24).is_err());
        assert!(TokenId::new(1024).is_err());
        assert!(ChainId::new(15).is_ok());
        assert!(serde_json_like_round_trip());
    }

    fn serde_json_like_round_trip() -> bool {
        // Deserialisation goes through the same range check.
        AccountId::try_from(u64::from(AccountId::new(7).unwrap()))
            .unwrap()
            .get()
            == 7
            && ChainId::try_from(16u64).is_err()
    }

    #[test]
    fn nonce_exhaustion_is_explicit() {
        assert_eq!(Nonce(u32::MAX).next(), None);
        assert_eq!(Nonce(1).next(), Some(Nonce(2)));
    }
}
