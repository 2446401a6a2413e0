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
/// Keys must encode so that byte order is the order callers expect from
/// [`crate::StorageExt::scan`]: integers are big-endian for that reason.
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

    proptest! {
        #[test]
        fn integers_round_trip_and_sort_like_numbers(a: u64, b: u64) {
            prop_assert_eq!(u64::decode(&a.encode()).unwrap(), a);
            prop_assert_eq!(a.encode().cmp(&b.encode()), a.cmp(&b));
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
