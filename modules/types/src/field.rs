//! The scalar field of BN254: the field of the circuit, of Poseidon and of Grumpkin's
//! coordinates.

use ff::PrimeField;

use crate::error::{invalid, Result};

/// BN254's scalar field, also Grumpkin's base field.
pub type Fr = nova_snark::provider::bn256_grumpkin::bn256::Scalar;

/// Big-endian 32-byte encoding of a field element (the form contracts and JSON see).
pub fn fr_to_be_bytes(x: &Fr) -> [u8; 32] {
    let mut bytes = x.to_repr();
    bytes.as_mut().reverse();
    let mut out = [0u8; 32];
    out.copy_from_slice(bytes.as_ref());
    out
}

/// Parses a big-endian 32-byte field element, rejecting values not below the modulus.
pub fn fr_from_be_bytes(bytes: &[u8; 32]) -> Result<Fr> {
    let mut le = *bytes;
    le.reverse();
    let mut repr = <Fr as PrimeField>::Repr::default();
    repr.as_mut().copy_from_slice(&le);
    Option::from(Fr::from_repr(repr))
        .ok_or_else(|| invalid("field element", "not below the BN254 scalar modulus"))
}

/// A field element from at most 31 big-endian bytes (always below the modulus).
pub fn fr_from_be_chunk(chunk: &[u8]) -> Fr {
    assert!(
        chunk.len() <= 31,
        "a chunk of {} bytes may overflow the field",
        chunk.len()
    );
    let mut be = [0u8; 32];
    be[32 - chunk.len()..].copy_from_slice(chunk);
    fr_from_be_bytes(&be).expect("31 bytes are always below the modulus")
}

/// A field element holding `x` as an integer.
pub fn fr_from_u128(x: u128) -> Fr {
    let mut be = [0u8; 32];
    be[16..].copy_from_slice(&x.to_be_bytes());
    fr_from_be_bytes(&be).expect("128 bits are below the modulus")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn be_bytes_round_trip(x: u128, y: u64) {
            let f = fr_from_u128(x) * fr_from_u128(y as u128 + 1);
            prop_assert_eq!(fr_from_be_bytes(&fr_to_be_bytes(&f)).unwrap(), f);
        }
    }

    #[test]
    fn modulus_is_rejected() {
        let modulus_minus_one = -Fr::ONE;
        let mut bytes = fr_to_be_bytes(&modulus_minus_one);
        bytes[31] += 1;
        assert!(fr_from_be_bytes(&bytes).is_err());
        assert_eq!(fr_to_be_bytes(&fr_from_u128(258))[30..], [1, 2]);
    }

    use ff::Field;
}
