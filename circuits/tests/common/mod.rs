//! What the circuit's integration tests share: running one step on a test constraint
//! system, and the small constructors every test uses.

#![allow(dead_code, unreachable_pub)] // each test binary uses its own subset

use std::panic::{catch_unwind, AssertUnwindSafe};

use ff::{Field, PrimeField};
use manyfold_circuits::{OpStep, StepWitness, SCALAR_BITS};
use manyfold_state::L2State;
use manyfold_types::keys::GrumpkinScalar;
use manyfold_types::{AccountId, ChainId, Fr, Op, PrivateKey, TokenId};
use nova_snark::frontend::num::AllocatedNum;
use nova_snark::frontend::test_cs::TestConstraintSystem;
use nova_snark::frontend::ConstraintSystem;
use nova_snark::traits::circuit::StepCircuit;

/// One step of `witness` (padded with `padding`) from `(root, commitment)`:
/// `Ok((root, commitment))` after it when satisfied, else `Err` with the first unsatisfied
/// constraint, or "synthesis panicked" (Nova's gadgets dividing by zero on a non-point).
pub fn run_step(
    root: Fr,
    commitment: Fr,
    witness: StepWitness,
    padding: StepWitness,
) -> Result<(Fr, Fr), String> {
    catch_unwind(AssertUnwindSafe(|| {
        let mut cs = TestConstraintSystem::<Fr>::new();
        let z = [
            AllocatedNum::alloc(cs.namespace(|| "root"), || Ok(root)).unwrap(),
            AllocatedNum::alloc(cs.namespace(|| "commitment"), || Ok(commitment)).unwrap(),
        ];
        let out = OpStep::new(vec![witness], padding)
            .synthesize(&mut cs, &z)
            .unwrap();
        match cs.which_is_unsatisfied() {
            Some(at) => Err(at.to_string()),
            None => Ok((out[0].get_value().unwrap(), out[1].get_value().unwrap())),
        }
    }))
    .unwrap_or_else(|_| Err("synthesis panicked".into()))
}

/// [`run_step`] for `op` alone from `state` and commitment 0, padded with a Noop on the
/// state after `op` (unchanged if the state refuses it).
pub fn step(state: &L2State, op: &Op, witness: StepWitness) -> Result<(Fr, Fr), String> {
    let mut after = state.clone();
    let _ = after.apply(op);
    run_step(
        state.root(),
        Fr::ZERO,
        witness,
        StepWitness::build(&after, &Op::Noop),
    )
}

/// The 254 little-endian bits the circuit reads a Grumpkin scalar as.
pub fn scalar_bits(s: &GrumpkinScalar) -> Vec<bool> {
    let repr = s.to_repr();
    (0..SCALAR_BITS)
        .map(|i| (repr.as_ref()[i / 8] >> (i % 8)) & 1 == 1)
        .collect()
}

/// The secret scalar of an L2 key (tests that forge with the user's own key).
pub fn secret_scalar(key: &PrivateKey) -> GrumpkinScalar {
    let mut repr = <GrumpkinScalar as PrimeField>::Repr::default();
    repr.as_mut().copy_from_slice(&key.to_bytes());
    GrumpkinScalar::from_repr(repr).unwrap()
}

pub fn id(a: u32) -> AccountId {
    AccountId::new(a).unwrap()
}

pub fn token(t: u16) -> TokenId {
    TokenId::new(t).unwrap()
}

pub fn chain(c: u16) -> ChainId {
    ChainId::new(c).unwrap()
}
