//! Small gadgets over BN254's scalar field.

use ff::{Field, PrimeFieldBits};
use manyfold_types::poseidon::{constants, Domain};
use manyfold_types::Fr;
use nova_snark::frontend::gadgets::poseidon::{
    IOPattern, Simplex, SpongeAPI, SpongeOp, SpongeTrait,
};
use nova_snark::frontend::num::AllocatedNum;
use nova_snark::frontend::{
    AllocatedBit, Boolean, ConstraintSystem, Elt, LinearCombination, SpongeCircuit, SynthesisError,
};

/// A value known to the prover, or nothing while only the shape is synthesised.
pub(crate) type Value<T> = Result<T, SynthesisError>;

/// Allocates `value`.
pub(crate) fn alloc<CS: ConstraintSystem<Fr>>(cs: CS, value: Fr) -> Value<AllocatedNum<Fr>> {
    AllocatedNum::alloc(cs, || Ok(value))
}

/// `poseidon::hash(domain, inputs)` in the circuit: the same sponge, constants and tag.
pub(crate) fn hash<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    domain: Domain,
    inputs: &[AllocatedNum<Fr>],
) -> Value<AllocatedNum<Fr>> {
    let elts: Vec<Elt<Fr>> = inputs.iter().map(|x| Elt::Allocated(x.clone())).collect();
    let n = elts.len() as u32;
    let mut ns = cs.namespace(|| "poseidon");
    let out = {
        let mut sponge = SpongeCircuit::new_with_constants(constants(), Simplex);
        let acc = &mut ns;
        sponge.start(
            IOPattern(vec![SpongeOp::Absorb(n), SpongeOp::Squeeze(1)]),
            Some(domain as u32),
            acc,
        );
        SpongeAPI::absorb(&mut sponge, n, &elts, acc);
        let out = SpongeAPI::squeeze(&mut sponge, 1, acc);
        sponge
            .finish(acc)
            .map_err(|_| SynthesisError::Unsatisfiable("sponge misuse".into()))?;
        out
    };
    let allocated = Elt::ensure_allocated(&out[0], &mut ns.namespace(|| "out"))?;
    Ok(allocated)
}

/// Decomposes `x` into `n` little-endian bits, which proves `x < 2^n`.
pub(crate) fn bits<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    x: &AllocatedNum<Fr>,
    n: usize,
) -> Value<Vec<AllocatedBit>> {
    let value_bits: Option<Vec<bool>> = x
        .get_value()
        .map(|v| v.to_le_bits().iter().take(n).map(|b| *b).collect());
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(AllocatedBit::alloc(
            cs.namespace(|| format!("bit {i}")),
            value_bits.as_ref().map(|b| b[i]),
        )?);
    }
    let mut lc = LinearCombination::zero();
    let mut coeff = Fr::ONE;
    for bit in &out {
        lc = lc + (coeff, bit.get_variable());
        coeff = coeff.double();
    }
    cs.enforce(
        || "bits sum to the value",
        |_| lc,
        |lc| lc + CS::one(),
        |lc| lc + x.get_variable(),
    );
    Ok(out)
}

/// The linear combination `Σ bits[i]·2^i`, shifted left by `shift` bits.
pub(crate) fn pack(bits: &[AllocatedBit], shift: u32) -> LinearCombination<Fr> {
    let mut lc = LinearCombination::zero();
    let mut coeff = Fr::from(2u64).pow_vartime([shift as u64]);
    for bit in bits {
        lc = lc + (coeff, bit.get_variable());
        coeff = coeff.double();
    }
    lc
}

/// The value of a packed bit range, for witnesses.
pub(crate) fn value_of(bits: &[AllocatedBit], shift: u32) -> Option<Fr> {
    let mut acc = Fr::ZERO;
    let mut coeff = Fr::from(2u64).pow_vartime([shift as u64]);
    for bit in bits {
        if bit.get_value()? {
            acc += coeff;
        }
        coeff = coeff.double();
    }
    Some(acc)
}

/// Allocates the value of a linear combination and constrains it.
pub(crate) fn materialise<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    lc: LinearCombination<Fr>,
    value: Option<Fr>,
) -> Value<AllocatedNum<Fr>> {
    let out = AllocatedNum::alloc(cs.namespace(|| "value"), || {
        value.ok_or(SynthesisError::AssignmentMissing)
    })?;
    cs.enforce(
        || "materialise",
        |_| lc,
        |lc| lc + CS::one(),
        |lc| lc + out.get_variable(),
    );
    Ok(out)
}

/// `a · b`.
pub(crate) fn mul<CS: ConstraintSystem<Fr>>(
    cs: CS,
    a: &AllocatedNum<Fr>,
    b: &AllocatedNum<Fr>,
) -> Value<AllocatedNum<Fr>> {
    a.mul(cs, b)
}

/// A boolean (as a number) that is 1 exactly when `x` is zero.
pub(crate) fn is_zero<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    x: &AllocatedNum<Fr>,
) -> Value<AllocatedNum<Fr>> {
    let inv = AllocatedNum::alloc(cs.namespace(|| "inverse"), || {
        let v = x.get_value().ok_or(SynthesisError::AssignmentMissing)?;
        Ok(Option::from(v.invert()).unwrap_or(Fr::ZERO))
    })?;
    let out = AllocatedNum::alloc(cs.namespace(|| "is zero"), || {
        let v = x.get_value().ok_or(SynthesisError::AssignmentMissing)?;
        Ok(if v.is_zero_vartime() {
            Fr::ONE
        } else {
            Fr::ZERO
        })
    })?;
    // out = 1 - x·inv, and x·out = 0: out is 1 iff x is 0.
    cs.enforce(
        || "out = 1 - x inv",
        |lc| lc + x.get_variable(),
        |lc| lc + inv.get_variable(),
        |lc| lc + CS::one() - out.get_variable(),
    );
    cs.enforce(
        || "x out = 0",
        |lc| lc + x.get_variable(),
        |lc| lc + out.get_variable(),
        |lc| lc,
    );
    Ok(out)
}

/// `a - b` as a new number.
pub(crate) fn sub<CS: ConstraintSystem<Fr>>(
    cs: CS,
    a: &AllocatedNum<Fr>,
    b: &AllocatedNum<Fr>,
) -> Value<AllocatedNum<Fr>> {
    let value = a.get_value().zip(b.get_value()).map(|(a, b)| a - b);
    materialise(
        cs,
        LinearCombination::zero() + a.get_variable() - b.get_variable(),
        value,
    )
}

/// Enforces `condition · (a - b) = 0`: `a == b` whenever `condition` is 1.
pub(crate) fn enforce_equal_if<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    condition: &LinearCombination<Fr>,
    a: &AllocatedNum<Fr>,
    b: &AllocatedNum<Fr>,
) {
    cs.enforce(
        || "equal if",
        |_| condition.clone(),
        |lc| lc + a.get_variable() - b.get_variable(),
        |lc| lc,
    );
}

/// Enforces `lc = 0`.
pub(crate) fn enforce_zero<CS: ConstraintSystem<Fr>>(mut cs: CS, lc: LinearCombination<Fr>) {
    cs.enforce(|| "is zero", |_| lc, |lc| lc + CS::one(), |lc| lc);
}

/// `condition ? a : b` for a 0/1 number `condition`.
pub(crate) fn select<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    condition: &AllocatedNum<Fr>,
    a: &AllocatedNum<Fr>,
    b: &AllocatedNum<Fr>,
) -> Value<AllocatedNum<Fr>> {
    let out = AllocatedNum::alloc(cs.namespace(|| "selected"), || {
        let c = condition
            .get_value()
            .ok_or(SynthesisError::AssignmentMissing)?;
        if c == Fr::ONE {
            a.get_value()
        } else {
            b.get_value()
        }
        .ok_or(SynthesisError::AssignmentMissing)
    })?;
    // out - b = c·(a - b)
    cs.enforce(
        || "select",
        |lc| lc + condition.get_variable(),
        |lc| lc + a.get_variable() - b.get_variable(),
        |lc| lc + out.get_variable() - b.get_variable(),
    );
    Ok(out)
}

/// The root of a quaternary tree from `leaf`, its index bits (two per level, low first)
/// and the three siblings per level (in child order, skipping the leaf's own slot).
/// About 300 constraints per level, nearly all of them the node's Poseidon permutation.
pub(crate) fn merkle_root<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    leaf: &AllocatedNum<Fr>,
    index_bits: &[AllocatedBit],
    siblings: &[[AllocatedNum<Fr>; 3]],
) -> Value<AllocatedNum<Fr>> {
    assert_eq!(index_bits.len(), 2 * siblings.len());
    let mut acc = leaf.clone();
    for (level, [s0, s1, s2]) in siblings.iter().enumerate() {
        let mut cs = cs.namespace(|| format!("level {level}"));
        let (b0, b1) = (&index_bits[2 * level], &index_bits[2 * level + 1]);
        let both = AllocatedBit::and(cs.namespace(|| "b0 b1"), b0, b1)?;
        let bit = |b: &AllocatedBit| b.get_value().map(|v| if v { Fr::ONE } else { Fr::ZERO });
        let (v0, v1, v3) = (bit(b0), bit(b1), bit(&both));
        let one = CS::one();
        // One-hot of the position p = b0 + 2·b1.
        let is0 = materialise(
            cs.namespace(|| "is0"),
            LinearCombination::zero() + one - b0.get_variable() - b1.get_variable()
                + both.get_variable(),
            (|| Some(Fr::ONE - v0? - v1? + v3?))(),
        )?;
        let is1 = materialise(
            cs.namespace(|| "is1"),
            LinearCombination::zero() + b0.get_variable() - both.get_variable(),
            (|| Some(v0? - v3?))(),
        )?;
        let is2 = materialise(
            cs.namespace(|| "is2"),
            LinearCombination::zero() + b1.get_variable() - both.get_variable(),
            (|| Some(v1? - v3?))(),
        )?;
        let is3 = materialise(
            cs.namespace(|| "is3"),
            LinearCombination::zero() + both.get_variable(),
            v3,
        )?;
        // p=0: [acc s0 s1 s2], p=1: [s0 acc s1 s2], p=2: [s0 s1 acc s2], p=3: [s0 s1 s2 acc]
        let slot0 = select(cs.namespace(|| "slot0"), &is0, &acc, s0)?;
        let acc_or_s1 = select(cs.namespace(|| "slot1 inner"), &is1, &acc, s1)?;
        let slot1 = select(cs.namespace(|| "slot1"), &is0, s0, &acc_or_s1)?;
        let s2_or_s1 = select(cs.namespace(|| "slot2 inner"), &is3, s2, s1)?;
        let slot2 = select(cs.namespace(|| "slot2"), &is2, &acc, &s2_or_s1)?;
        let slot3 = select(cs.namespace(|| "slot3"), &is3, &acc, s2)?;
        acc = hash(
            cs.namespace(|| "node"),
            Domain::Node,
            &[slot0, slot1, slot2, slot3],
        )?;
    }
    Ok(acc)
}

/// Allocated bits of a value that may exceed the field (a Grumpkin scalar), little-endian.
pub(crate) fn alloc_bits<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    bits: &[bool],
) -> Value<Vec<AllocatedBit>> {
    bits.iter()
        .enumerate()
        .map(|(i, b)| AllocatedBit::alloc(cs.namespace(|| format!("bit {i}")), Some(*b)))
        .collect()
}

/// Bits of a field element below the modulus (strict decomposition).
pub(crate) fn strict_bits<CS: ConstraintSystem<Fr>>(
    cs: CS,
    x: &AllocatedNum<Fr>,
) -> Value<Vec<AllocatedBit>> {
    let booleans = x.to_bits_le_strict(cs)?;
    Ok(booleans
        .into_iter()
        .map(|b| match b {
            Boolean::Is(bit) => bit,
            _ => unreachable!("strict decomposition allocates every bit"),
        })
        .collect())
}
