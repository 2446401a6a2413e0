/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The byte string has the wrong length for a fixed-width type.
    #[error("expected {expected} bytes, got {actual}")]
    Length {
        /// Required length.
        expected: usize,
        /// Length found.
        actual: usize,
    },
    /// The bytes have the right length but are not a valid value.
    #[error("invalid encoding: {0}")]
    Invalid(String),
}

/// A type that can be stored as a key or value.
///
/// Backends order keys by their encoded bytes; a key type whose encoding sorts like its
/// values says so by implementing [`OrderedKey`], which range reads require.
pub trait Codec: Sized {
    /// Serialises `self`.
    fn encode(&self) -> Vec<u8>;
    /// Parses bytes produced by [`Codec::encode`].
    fn decode(bytes: &[u8]) -> Result<Self, CodecError>;
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], CodecError> {
    bytes.try_into().map_err(|_| CodecError::Length {
        expected: N,
        actual: bytes.len(),
    })
}

macro_rules! int_codec {
    ($($t:ty),*) => {$(
        impl Codec for $t {
            fn encode(&self) -> Vec<u8> {
                self.to_be_bytes().to_vec()
            }
            fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
                Ok(<$t>::from_be_bytes(fixed(bytes)?))
            }
        }
    )*};
}
int_codec!(u8, u16, u32, u64, u128);

impl Codec for Vec<u8> {
    fn encode(&self) -> Vec<u8> {
        self.clone()
    }
    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        Ok(bytes.to_vec())
    }
}

impl<const N: usize> Codec for [u8; N] {
    fn encode(&self) -> Vec<u8> {
        self.to_vec()
    }
    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        fixed(bytes)
    }
}

impl Codec for () {
    fn encode(&self) -> Vec<u8> {
        Vec::new()
    }
    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        fixed::<0>(bytes).map(|_| ())
    }
}

impl<A: Codec, B: Codec> Codec for (A, B)
where
    A: FixedWidth,
{
    fn encode(&self) -> Vec<u8> {
        let mut out = self.0.encode();
        out.extend(self.1.encode());
        out
    }
    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() < A::WIDTH {
            return Err(CodecError::Length {
                expected: A::WIDTH,
                actual: bytes.len(),
            });
        }
        let (a, b) = bytes.split_at(A::WIDTH);
        Ok((A::decode(a)?, B::decode(b)?))
    }
}

/// A [`Codec`] whose encoding always has the same length, so it can lead a composite key.
pub trait FixedWidth {
    /// Encoded length in bytes.
    const WIDTH: usize;
}

/// A key type whose encodings compare, as byte strings, exactly as its values compare:
/// for all `a` and `b`, `a.encode().cmp(&b.encode()) == a.cmp(&b)`.
///
/// Scans and range reads return entries in byte order of their keys; with an `OrderedKey`
/// that is the typed order, so typed range bounds select what they say. Every key codec of
/// this crate is ordered:
/// - unsigned integers, big-endian and fixed-width;
/// - `[u8; N]` and `Vec<u8>`, as themselves (lexicographic, a prefix first);
/// - `()`, a single value;
/// - `(A, B)` with `A` fixed-width: `A`'s bytes then `B`'s, so the pair sorts by `A` and
///   then by `B`, as tuples do (a fixed width is what keeps `A`'s bytes from running into
///   `B`'s).
///
/// Implement it for a key type of your own only when the law above holds; signed integers
/// in two's complement, little-endian integers and variable-length encodings followed by
/// more data break it.
pub trait OrderedKey: Codec + Ord {}

macro_rules! ordered {
    ($($t:ty),*) => {$( impl OrderedKey for $t {} )*};
}
ordered!(u8, u16, u32, u64, u128, Vec<u8>, ());
impl<const N: usize> OrderedKey for [u8; N] {}
impl<A: OrderedKey + FixedWidth, B: OrderedKey> OrderedKey for (A, B) {}

macro_rules! fixed_width {
    ($($t:ty),*) => {$( impl FixedWidth for $t { const WIDTH: usize = std::mem::size_of::<$t>(); } )*};
}
fixed_width!(u8, u16, u32, u64, u128);
impl<const N: usize> FixedWidth for [u8; N] {
    const WIDTH: usize = N;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The [`OrderedKey`] law, and that the key round-trips.
    fn check_ordered<K: OrderedKey + std::fmt::Debug>(a: &K, b: &K) -> Result<(), TestCaseError> {
        prop_assert_eq!(&K::decode(&a.encode()).unwrap(), a);
        prop_assert_eq!(a.encode().cmp(&b.encode()), a.cmp(b), "{:?} vs {:?}", a, b);
        Ok(())
    }

    /// Pairs of values of a strategy, often equal or sharing a prefix so that ties and
    /// prefixes are exercised, not only random order.
    fn close_pairs<T: Clone + std::fmt::Debug>(
        one: impl Strategy<Value = T> + Clone,
    ) -> impl Strategy<Value = (T, T)> {
        prop_oneof![(one.clone(), one.clone()), one.prop_map(|a| (a.clone(), a)),]
    }

    proptest! {
        #[test]
        fn integers_round_trip_and_sort_like_numbers(a: u64, b: u64) {
            prop_assert_eq!(u64::decode(&a.encode()).unwrap(), a);
            prop_assert_eq!(a.encode().cmp(&b.encode()), a.cmp(&b));
        }

        #[test]
        fn every_key_codec_sorts_like_its_values(
            ints in (any::<(u8, u8)>(), any::<(u16, u16)>(), any::<(u32, u32)>(),
                     any::<(u128, u128)>()),
            arrays in close_pairs(any::<[u8; 3]>()),
            // Short byte strings over a tiny alphabet: prefixes and ties are common.
            bytes in close_pairs(prop::collection::vec(0u8..3, 0..4)),
            pairs in close_pairs((0u16..3, prop::collection::vec(0u8..3, 0..3))),
            nested in close_pairs((0u32..2, ((0u8..2).prop_map(|b| [b; 2]), 0u64..3))),
        ) {
            check_ordered(&ints.0.0, &ints.0.1)?;
            check_ordered(&ints.1.0, &ints.1.1)?;
            check_ordered(&ints.2.0, &ints.2.1)?;
            check_ordered(&ints.3.0, &ints.3.1)?;
            check_ordered(&arrays.0, &arrays.1)?;
            check_ordered(&bytes.0, &bytes.1)?;
            check_ordered(&pairs.0, &pairs.1)?;
            check_ordered(&nested.0, &nested.1)?;
            check_ordered(&(), &())?;
        }

        #[test]
        fn pairs_round_trip(a: u32, b: Vec<u8>) {
            let pair = (a, b);
            prop_assert_eq!(<(u32, Vec<u8>)>::decode(&pair.encode()).unwrap(), pair);
        }
    }

    #[test]
    fn wrong_length_is_an_error() {
        assert_eq!(
            u32::decode(&[1, 2, 3]),
            Err(CodecError::Length {
                expected: 4,
                actual: 3
            })
        );
    }
}

/// A value stored as its JSON encoding: for records whose layout may grow (every field a
/// serde field), where a fixed-width encoding would be brittle. Not for keys: JSON does
/// not sort like the values it encodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: serde::Serialize + serde::de::DeserializeOwned> Codec for Json<T> {
    fn encode(&self) -> Vec<u8> {
        // Serialising plain records cannot fail (no maps with non-string keys).
        serde_json::to_vec(&self.0).expect("stored records serialise")
    }
    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        serde_json::from_slice(bytes)
            .map(Json)
            .map_err(|e| CodecError::Invalid(e.to_string()))
    }
}
