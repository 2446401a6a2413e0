//! L2 keys and Schnorr signatures over Grumpkin.
//!
//! Grumpkin's base field is BN254's scalar field, so a signature's points are native
//! field elements of the circuit, which can then verify every signature cheaply.
//!
//! - Public key `P = sk·G`; the account leaf stores `pkh = H_pubkey(P.x, P.y)`.
//! - Signing message `m` (a field element): `k` is derived deterministically from
//!   `(sk, m)`, `R = k·G`, `e = H_challenge(R.x, R.y, pkh, m)`, `s = k + e·sk`.
//! - Verifying: `s·G == R + e·P`, where `e` is read as a Grumpkin scalar (BN254's scalar
//!   modulus is below Grumpkin's, so every `e` is a valid scalar).

use alloy_primitives::keccak256;
use ff::{Field, FromUniformBytes, PrimeField};
use group::{prime::PrimeCurveAffine, Curve, GroupEncoding};
use halo2curves::CurveAffine;
use nova_snark::provider::bn256_grumpkin::grumpkin;
use serde::{Deserialize, Serialize};

use crate::error::{check_len, invalid, Result};
use crate::field::{fr_from_be_bytes, fr_to_be_bytes};
use crate::poseidon::{hash, Domain};
use crate::Fr;

/// A Grumpkin scalar: an L2 secret key, a Schnorr nonce or response.
pub type GrumpkinScalar = grumpkin::Scalar;
/// A Grumpkin point in affine form.
pub type GrumpkinAffine = grumpkin::Affine;

/// An L2 secret key.
#[derive(Clone)]
pub struct PrivateKey(GrumpkinScalar);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    /// A uniformly random key.
    pub fn random(rng: &mut impl rand_core::RngCore) -> Self {
        loop {
            let sk = GrumpkinScalar::random(&mut *rng);
            // Zero is not a key; drawing it has negligible probability, but costs nothing to exclude.
            if !bool::from(sk.is_zero()) {
                return Self(sk);
            }
        }
    }

    /// The key derived from a seed (tests, devnet accounts): `keccak256(seed)` widened to
    /// 64 bytes and reduced, so it is uniform.
    pub fn from_seed(seed: &[u8]) -> Self {
        let lo = keccak256([seed, b"/0"].concat());
        let hi = keccak256([seed, b"/1"].concat());
        let mut wide = [0u8; 64];
        wide[..32].copy_from_slice(lo.as_slice());
        wide[32..].copy_from_slice(hi.as_slice());
        Self(GrumpkinScalar::from_uniform_bytes(&wide))
    }

    /// The 32-byte little-endian encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        scalar_to_bytes(&self.0)
    }

    /// Parses [`PrivateKey::to_bytes`]'s encoding.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        match scalar_from_bytes(bytes) {
            Some(sk) if !bool::from(sk.is_zero()) => Ok(Self(sk)),
            _ => Err(invalid(
                "private key",
                "zero or not below the Grumpkin order",
            )),
        }
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey((GrumpkinAffine::generator() * self.0).to_affine())
    }

    /// Signs `message`.
    pub fn sign(&self, message: Fr) -> Signature {
        let pkh = self.public_key().hash();
        // Deterministic nonce, as in RFC 6979's spirit: never reused for two messages, and
        // no randomness source needed to sign.
        let mut wide = [0u8; 64];
        let seed = [
            b"manyfold/schnorr-nonce".as_slice(),
            &scalar_to_bytes(&self.0),
            &fr_to_be_bytes(&message),
        ]
        .concat();
        wide[..32].copy_from_slice(keccak256([&seed[..], b"/0"].concat()).as_slice());
        wide[32..].copy_from_slice(keccak256([&seed[..], b"/1"].concat()).as_slice());
        let k = GrumpkinScalar::from_uniform_bytes(&wide);
        let r = (GrumpkinAffine::generator() * k).to_affine();
        let e = challenge(&r, pkh, message);
        Signature {
            r,
            s: k + e * self.0,
        }
    }
}

/// An L2 public key: a Grumpkin point other than the identity.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PublicKey(GrumpkinAffine);

impl PublicKey {
    /// The point's coordinates.
    pub fn coordinates(&self) -> (Fr, Fr) {
        coordinates(&self.0)
    }

    /// The point.
    pub fn point(&self) -> GrumpkinAffine {
        self.0
    }

    /// The hash stored in the account leaf.
    pub fn hash(&self) -> PubKeyHash {
        let (x, y) = self.coordinates();
        PubKeyHash(hash(Domain::PubKey, &[x, y]))
    }

    /// The 32-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        let c = self.0.to_bytes();
        let mut out = [0u8; 32];
        out.copy_from_slice(c.as_ref());
        out
    }

    /// Parses a compressed point, rejecting invalid points and the identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_len("public key", bytes, 32)?;
        let point =
            decode_point(bytes).ok_or_else(|| invalid("public key", "not a Grumpkin point"))?;
        if bool::from(point.is_identity()) {
            return Err(invalid("public key", "the identity"));
        }
        Ok(Self(point))
    }

    /// Whether `signature` signs `message` under this key. Edge encodings (see
    /// [`Signature::check_canonical`]) never verify, whatever the equation says: the
    /// circuit cannot prove them, so a state that accepted one would halt the prover.
    pub fn verify(&self, message: Fr, signature: &Signature) -> bool {
        if signature.check_canonical().is_err() || bool::from(self.0.is_identity()) {
            return false;
        }
        let e = challenge(&signature.r, self.hash(), message);
        let lhs = GrumpkinAffine::generator() * signature.s;
        let rhs = signature.r.to_curve() + self.0 * e;
        lhs == rhs
    }
}

/// The Poseidon hash of an L2 public key, as stored in the account leaf. Zero means no key
/// is registered: such an account can receive funds but not sign.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, PartialOrd, Ord)]
pub struct PubKeyHash(pub Fr);

impl PubKeyHash {
    /// No key registered.
    pub const NONE: PubKeyHash = PubKeyHash(Fr::ZERO);

    /// Big-endian bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        fr_to_be_bytes(&self.0)
    }

    /// Parses big-endian bytes of a field element.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        fr_from_be_bytes(bytes).map(PubKeyHash)
    }
}

impl Serialize for PubKeyHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        alloy_primitives::B256::from(self.to_bytes()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for PubKeyHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let b = alloy_primitives::B256::deserialize(d)?;
        PubKeyHash::from_bytes(&b.0).map_err(serde::de::Error::custom)
    }
}

/// A Schnorr signature `(R, s)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Signature {
    /// The nonce commitment `R = k·G`.
    pub r: GrumpkinAffine,
    /// The response `s = k + e·sk`.
    pub s: GrumpkinScalar,
}

impl Signature {
    /// Encoded length: compressed `R`, then `s` little-endian.
    pub const BYTES: usize = 64;

    /// The 64-byte encoding.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(self.r.to_bytes().as_ref());
        out[32..].copy_from_slice(&scalar_to_bytes(&self.s));
        out
    }

    /// Parses [`Signature::to_bytes`]'s encoding: `R` a point other than the identity
    /// with canonical coordinates, `s` non-zero and below the Grumpkin order.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_len("signature", bytes, Self::BYTES)?;
        let r = decode_point(&bytes[..32])
            .ok_or_else(|| invalid("signature", "R is not a Grumpkin point"))?;
        let mut s_repr = [0u8; 32];
        s_repr.copy_from_slice(&bytes[32..]);
        let s = scalar_from_bytes(&s_repr)
            .ok_or_else(|| invalid("signature", "s is not below the Grumpkin order"))?;
        let signature = Self { r, s };
        signature.check_canonical()?;
        Ok(signature)
    }

    /// Refuses the encodings the step circuit cannot prove (DESIGN §5): `R` the identity
    /// (its coordinates are not a curve point, and Nova's point gadgets would divide by
    /// zero on them) and `s = 0`. A value of this type is otherwise always canonical:
    /// coordinates and `s` are reduced field elements by construction.
    pub fn check_canonical(&self) -> Result<()> {
        if bool::from(self.r.is_identity()) {
            return Err(invalid("signature", "R is the identity"));
        }
        if bool::from(self.s.is_zero()) {
            return Err(invalid("signature", "s is zero"));
        }
        Ok(())
    }
}

fn scalar_to_bytes(s: &GrumpkinScalar) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(s.to_repr().as_ref());
    out
}

fn scalar_from_bytes(bytes: &[u8; 32]) -> Option<GrumpkinScalar> {
    let mut repr = <GrumpkinScalar as PrimeField>::Repr::default();
    repr.as_mut().copy_from_slice(bytes);
    GrumpkinScalar::from_repr(repr).into()
}

fn decode_point(bytes: &[u8]) -> Option<GrumpkinAffine> {
    let mut repr = <GrumpkinAffine as GroupEncoding>::Repr::default();
    repr.as_mut().copy_from_slice(bytes);
    GrumpkinAffine::from_bytes(&repr).into()
}

/// The coordinates of a point; the identity maps to `(0, 0)`, which is not on the curve.
pub fn coordinates(p: &GrumpkinAffine) -> (Fr, Fr) {
    Option::from(p.coordinates())
        .map(|c: halo2curves::Coordinates<GrumpkinAffine>| (*c.x(), *c.y()))
        .unwrap_or((Fr::ZERO, Fr::ZERO))
}

/// The Schnorr challenge as a Grumpkin scalar.
pub fn challenge(r: &GrumpkinAffine, pkh: PubKeyHash, message: Fr) -> GrumpkinScalar {
    let (rx, ry) = coordinates(r);
    let e = hash(Domain::Challenge, &[rx, ry, pkh.0, message]);
    fr_to_grumpkin_scalar(&e)
}

/// Reads a BN254 scalar as a Grumpkin scalar (always possible: its modulus is smaller).
pub fn fr_to_grumpkin_scalar(x: &Fr) -> GrumpkinScalar {
    let mut repr = <GrumpkinScalar as PrimeField>::Repr::default();
    repr.as_mut().copy_from_slice(x.to_repr().as_ref());
    Option::from(GrumpkinScalar::from_repr(repr))
        .expect("BN254's scalar modulus is below Grumpkin's")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::fr_from_u128;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn signatures_verify_and_bind(seed: [u8; 8], m: u128, other: u128) {
            let sk = PrivateKey::from_seed(&seed);
            let pk = sk.public_key();
            let msg = fr_from_u128(m);
            let sig = sk.sign(msg);
            prop_assert!(pk.verify(msg, &sig));
            let decoded = Signature::from_bytes(&sig.to_bytes()).unwrap();
            prop_assert!(pk.verify(msg, &decoded));
            prop_assert_eq!(PublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
            if other != m {
                prop_assert!(!pk.verify(fr_from_u128(other), &sig));
            }
            let stranger = PrivateKey::from_seed(&[seed.as_slice(), b"x"].concat()).public_key();
            prop_assert!(!stranger.verify(msg, &sig));
        }
    }

    /// Issue 9 item 2: a signature with `R` = identity (`s = e·sk`) satisfies the
    /// verification equation, but the circuit cannot prove it; it must be refused
    /// natively, in decoding and in verification. So must `s = 0`, the identity as a
    /// key, and coordinates or scalars at or above their modulus.
    #[test]
    fn edge_encodings_are_refused() {
        let sk = PrivateKey::from_seed(b"user");
        let pk = sk.public_key();
        let msg = fr_from_u128(7);
        // R = identity, s = e·sk: s·G = e·P = R + e·P holds.
        let identity = GrumpkinAffine::identity();
        let e = challenge(&identity, pk.hash(), msg);
        let forged = Signature {
            r: identity,
            s: e * sk.0,
        };
        assert_eq!(
            GrumpkinAffine::generator() * forged.s,
            forged.r.to_curve() + pk.point() * e,
            "the equation alone accepts it"
        );
        assert!(!pk.verify(msg, &forged));
        assert!(Signature::from_bytes(&forged.to_bytes()).is_err());

        let honest = sk.sign(msg);
        let zero_s = Signature {
            r: honest.r,
            s: GrumpkinScalar::ZERO,
        };
        assert!(Signature::from_bytes(&zero_s.to_bytes()).is_err());
        assert!(!pk.verify(msg, &zero_s));

        // The identity as a public key.
        let identity_bytes = identity.to_bytes();
        assert!(PublicKey::from_bytes(identity_bytes.as_ref()).is_err());

        // s at or above the group order: the order itself, and s + order.
        let order_le = {
            let mut le = [0u8; 32];
            let modulus = GrumpkinScalar::MODULUS.trim_start_matches("0x");
            let be = alloy_primitives::hex::decode(modulus).unwrap();
            for (i, b) in be.iter().rev().enumerate() {
                le[i] = *b;
            }
            le
        };
        let mut at_order = honest.to_bytes();
        at_order[32..].copy_from_slice(&order_le);
        assert!(Signature::from_bytes(&at_order).is_err());
        let mut s_plus_order = honest.to_bytes();
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = s_plus_order[32 + i] as u16 + order_le[i] as u16 + carry;
            s_plus_order[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        if carry == 0 {
            assert!(Signature::from_bytes(&s_plus_order).is_err());
        }

        // R's x coordinate at or above the base field's modulus: x + p, keeping the flag bits.
        let p_le = {
            let mut le = [0u8; 32];
            let modulus = <Fr as PrimeField>::MODULUS.trim_start_matches("0x");
            let be = alloy_primitives::hex::decode(modulus).unwrap();
            for (i, b) in be.iter().rev().enumerate() {
                le[i] = *b;
            }
            le
        };
        let mut tried = 0;
        for seed in 0u64..64 {
            let sig = PrivateKey::from_seed(&seed.to_be_bytes()).sign(msg);
            let mut bytes = sig.to_bytes();
            let (mut carry, mut x) = (0u16, [0u8; 32]);
            for i in 0..32 {
                let b = if i == 31 { bytes[i] & 0x3f } else { bytes[i] };
                let sum = b as u16 + p_le[i] as u16 + carry;
                x[i] = sum as u8;
                carry = sum >> 8;
            }
            if carry == 0 && x[31] & 0xc0 == 0 {
                x[31] |= bytes[31] & 0xc0;
                bytes[..32].copy_from_slice(&x);
                assert!(Signature::from_bytes(&bytes).is_err(), "x + p accepted");
                tried += 1;
            }
        }
        assert!(tried > 0, "some x + p fits the encoding");
    }

    #[test]
    fn bad_encodings_are_rejected() {
        assert!(PublicKey::from_bytes(&[0xff; 32]).is_err());
        assert!(PublicKey::from_bytes(&[0u8; 31]).is_err());
        assert!(Signature::from_bytes(&[0xff; 64]).is_err());
        assert!(PrivateKey::from_bytes(&[0u8; 32]).is_err());
        let sk = PrivateKey::from_seed(b"k");
        assert_eq!(
            PrivateKey::from_bytes(&sk.to_bytes()).unwrap().public_key(),
            sk.public_key()
        );
    }
}

macro_rules! hex_serde {
    ($t:ty, $n:expr, $to:expr, $from:expr) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                alloy_primitives::FixedBytes::<$n>::from($to(self)).serialize(s)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
                let bytes = alloy_primitives::FixedBytes::<$n>::deserialize(d)?;
                $from(bytes.as_slice()).map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_serde!(Signature, 64, Signature::to_bytes, Signature::from_bytes);
hex_serde!(PublicKey, 32, PublicKey::to_bytes, PublicKey::from_bytes);
hex_serde!(
    crate::ecdsa::EthSignature,
    65,
    |s: &crate::ecdsa::EthSignature| s.0,
    crate::ecdsa::EthSignature::from_bytes
);
