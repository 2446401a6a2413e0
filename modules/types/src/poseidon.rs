//! Poseidon over BN254's scalar field, as shipped by nova-snark.
//!
//! Every hash in the L2 state and in L2 signatures is one call of [`hash`]: a Poseidon
//! sponge of width 5 (rate 4), absorbing at most four elements and squeezing one. With
//! four or fewer inputs that is a single permutation, which is what keeps the circuit's
//! per-hash cost down; the quaternary Merkle trees are shaped around this rate. Each use
//! gets its own [`Domain`], mixed into the sponge's initial tag, so that a leaf can never
//! be read as a node, or a message as a key.
//!
//! The circuit crate builds its gadget from [`constants`], the very same constants.

use std::sync::LazyLock;

use generic_array::typenum::U4;
use nova_snark::frontend::gadgets::poseidon::{
    IOPattern, PoseidonConstants, Simplex, Sponge, SpongeAPI, SpongeOp, SpongeTrait, Strength,
};

use crate::Fr;

/// The sponge rate: the most elements one [`hash`] call takes.
pub const RATE: usize = 4;

/// The Poseidon arity type used everywhere (rate 4).
pub type Arity = U4;

static CONSTANTS: LazyLock<PoseidonConstants<Fr, Arity>> =
    LazyLock::new(|| Sponge::<Fr, Arity>::api_constants(Strength::Standard));

/// The constants of the hash, for the circuit's gadget.
pub fn constants() -> &'static PoseidonConstants<Fr, Arity> {
    &CONSTANTS
}

/// What a hash is used for; its value is the sponge's domain separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Domain {
    /// An inner node of a quaternary Merkle tree (four children).
    Node = 1,
    /// An account leaf (address, pubkey hash, nonce, balance root).
    Account = 2,
    /// The state root (accounts root, reserves root).
    State = 3,
    /// A public key's hash (x, y).
    PubKey = 4,
    /// The Schnorr challenge (R.x, R.y, pubkey hash, message).
    Challenge = 5,
    /// The message of a Transfer.
    Transfer = 6,
    /// The message of a Withdraw.
    Withdraw = 7,
    /// One link of the pubdata commitment chain.
    Pubdata = 8,
}

/// Hashes up to [`RATE`] field elements under `domain`.
///
/// # Panics
/// If more than [`RATE`] inputs are given: callers hash fixed shapes, so more is a bug.
pub fn hash(domain: Domain, inputs: &[Fr]) -> Fr {
    assert!(
        !inputs.is_empty() && inputs.len() <= RATE,
        "poseidon::hash takes 1 to {RATE} inputs, got {}",
        inputs.len()
    );
    let mut sponge = Sponge::new_with_constants(constants(), Simplex);
    let acc = &mut ();
    let pattern = IOPattern(vec![
        SpongeOp::Absorb(inputs.len() as u32),
        SpongeOp::Squeeze(1),
    ]);
    sponge.start(pattern, Some(domain as u32), acc);
    SpongeAPI::absorb(&mut sponge, inputs.len() as u32, inputs, acc);
    let out = SpongeAPI::squeeze(&mut sponge, 1, acc);
    sponge
        .finish(acc)
        .expect("the sponge is used exactly as its IO pattern says");
    out[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::fr_from_u128;

    #[test]
    fn domains_and_lengths_separate() {
        let a = fr_from_u128(1);
        let b = fr_from_u128(2);
        assert_ne!(hash(Domain::Node, &[a, b]), hash(Domain::Account, &[a, b]));
        assert_ne!(
            hash(Domain::Node, &[a]),
            hash(Domain::Node, &[a, Fr::from(0)])
        );
        assert_ne!(hash(Domain::Node, &[a, b]), hash(Domain::Node, &[b, a]));
        assert_eq!(hash(Domain::Node, &[a, b]), hash(Domain::Node, &[a, b]));
    }

    #[test]
    #[should_panic(expected = "1 to 4 inputs")]
    fn more_than_rate_inputs_is_a_bug() {
        hash(Domain::Node, &[Fr::from(0); 5]);
    }
}
