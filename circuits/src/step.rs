//! The step circuit: one op per IVC step, one shape for every op type.

use ff::Field;
use manyfold_state::tree::empty_hash;
use manyfold_state::BALANCE_TREE_DEPTH;
use manyfold_types::field::fr_from_u128;
use manyfold_types::keys::{coordinates, GrumpkinAffine};
use manyfold_types::poseidon::Domain;
use manyfold_types::pubdata::OpType;
use manyfold_types::Fr;
use nova_snark::frontend::num::AllocatedNum;
use nova_snark::frontend::{AllocatedBit, ConstraintSystem, LinearCombination, SynthesisError};
use nova_snark::gadgets::ecc::AllocatedPoint;
use nova_snark::provider::GrumpkinEngine;
use nova_snark::traits::circuit::StepCircuit;

use crate::gadgets::*;
use crate::witness::{LeafWitness, StepWitness, SCALAR_BITS};

type Point = AllocatedPoint<GrumpkinEngine>;

/// One op as an IVC step. The IVC state is `[state root, pubdata commitment]`.
#[derive(Debug, Clone)]
pub struct OpStep {
    slots: Vec<StepWitness>,
    active: usize,
    chains: usize,
}

/// Ops per IVC step. Nova's augmentation and secondary fold are paid once per step, so
/// several ops per step make each op cheaper to prove; a step with fewer ops fills the
/// rest with inactive slots that change nothing.
pub const OPS_PER_STEP: usize = 4;

impl OpStep {
    /// The step proving `ops` (1 to [`OPS_PER_STEP`] of them, in order). `padding` fills
    /// the remaining slots: the witness of a Noop on the state after the last op.
    ///
    /// The step's shape depends on the number of chains, which every witness carries.
    ///
    /// # Panics
    /// With no op or more than [`OPS_PER_STEP`], or witnesses of different chain sets.
    pub fn new(ops: Vec<StepWitness>, padding: StepWitness) -> Self {
        assert!(
            (1..=OPS_PER_STEP).contains(&ops.len()),
            "a step holds 1 to {OPS_PER_STEP} ops, got {}",
            ops.len()
        );
        let chains = padding.chains;
        assert!(
            ops.iter().all(|w| w.chains == chains),
            "every witness of a step comes from one chain set"
        );
        let active = ops.len();
        let mut slots = ops;
        slots.resize(OPS_PER_STEP, padding);
        Self {
            slots,
            active,
            chains,
        }
    }

    /// Inactive Noops over an empty state of `chains` chains: the circuit's shape (which
    /// depends on the number of chains, not on their domains), for parameter setup.
    pub fn blank(chains: usize) -> Self {
        let noop = StepWitness::build(
            &manyfold_state::L2State::new(manyfold_types::ChainSet::local(chains)),
            &manyfold_types::Op::Noop,
        );
        Self {
            slots: vec![noop; OPS_PER_STEP],
            active: 0,
            chains,
        }
    }

    /// A step whose slots are active as `active` says, whatever their count: for tests
    /// that play a prover choosing these flags.
    #[doc(hidden)]
    pub fn with_active_flags(slots: Vec<StepWitness>, active: Vec<bool>) -> AdversarialStep {
        AdversarialStep {
            step: OpStep {
                chains: slots[0].chains,
                active: 0,
                slots,
            },
            active,
        }
    }
}

fn lc(x: &AllocatedNum<Fr>) -> LinearCombination<Fr> {
    LinearCombination::zero() + x.get_variable()
}

fn num_of_bit<CS: ConstraintSystem<Fr>>(
    cs: CS,
    bit: &AllocatedBit,
) -> Result<AllocatedNum<Fr>, SynthesisError> {
    materialise(
        cs,
        LinearCombination::zero() + bit.get_variable(),
        bit.get_value().map(|b| if b { Fr::ONE } else { Fr::ZERO }),
    )
}

fn alloc_path<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    path: &[[Fr; 3]],
) -> Result<Vec<[AllocatedNum<Fr>; 3]>, SynthesisError> {
    path.iter()
        .enumerate()
        .map(|(l, level)| {
            Ok([
                alloc(cs.namespace(|| format!("{l}.0")), level[0])?,
                alloc(cs.namespace(|| format!("{l}.1")), level[1])?,
                alloc(cs.namespace(|| format!("{l}.2")), level[2])?,
            ])
        })
        .collect()
}

/// An allocated account leaf with its checks against the tree it is read from.
struct Leaf {
    exists: AllocatedNum<Fr>,
    address: AllocatedNum<Fr>,
    pubkey_hash: AllocatedNum<Fr>,
    nonce: AllocatedNum<Fr>,
    balance: AllocatedNum<Fr>,
    balance_path: Vec<[AllocatedNum<Fr>; 3]>,
    account_path: Vec<[AllocatedNum<Fr>; 3]>,
    old_root: AllocatedNum<Fr>,
}

fn alloc_leaf<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    w: &LeafWitness,
    account_bits: &[AllocatedBit],
    token_bits: &[AllocatedBit],
) -> Result<Leaf, SynthesisError> {
    let exists_bit = AllocatedBit::alloc(cs.namespace(|| "exists"), Some(w.exists))?;
    let exists = num_of_bit(cs.namespace(|| "exists num"), &exists_bit)?;
    let address = alloc(cs.namespace(|| "address"), w.address)?;
    let pubkey_hash = alloc(cs.namespace(|| "pkh"), w.pubkey_hash)?;
    let nonce = alloc(cs.namespace(|| "nonce"), Fr::from(w.nonce as u64))?;
    let balance = alloc(cs.namespace(|| "balance"), w.balance)?;
    let balance_root = alloc(cs.namespace(|| "balance root"), w.balance_root)?;
    let balance_path = alloc_path(cs.namespace(|| "balance path"), &w.balance_path)?;
    let account_path = alloc_path(cs.namespace(|| "account path"), &w.account_path)?;
    // The balance is the token's leaf in the account's balance tree.
    let computed = merkle_root(
        cs.namespace(|| "balance membership"),
        &balance,
        token_bits,
        &balance_path,
    )?;
    enforce_zero(
        cs.namespace(|| "balance root matches"),
        lc(&computed) - balance_root.get_variable(),
    );
    // An empty leaf has no owner, key, nonce or balance.
    let absent = LinearCombination::zero() + CS::one() - exists.get_variable();
    for (name, x) in [
        ("address", &address),
        ("pkh", &pubkey_hash),
        ("nonce", &nonce),
    ] {
        cs.enforce(
            || format!("empty leaf has no {name}"),
            |_| absent.clone(),
            |_| lc(x),
            |lc| lc,
        );
    }
    cs.enforce(
        || "empty leaf has empty balances",
        |_| absent.clone(),
        |_| lc(&balance_root) - (empty_hash(BALANCE_TREE_DEPTH), CS::one()),
        |lc| lc,
    );
    let hash_value = hash(
        cs.namespace(|| "leaf hash"),
        Domain::Account,
        &[
            address.clone(),
            pubkey_hash.clone(),
            nonce.clone(),
            balance_root,
        ],
    )?;
    let leaf = mul(cs.namespace(|| "leaf or empty"), &exists, &hash_value)?;
    let old_root = merkle_root(
        cs.namespace(|| "account membership"),
        &leaf,
        account_bits,
        &account_path,
    )?;
    Ok(Leaf {
        exists,
        address,
        pubkey_hash,
        nonce,
        balance,
        balance_path,
        account_path,
        old_root,
    })
}

/// The new root after writing a leaf with the given fields at the same position.
#[allow(clippy::too_many_arguments)]
fn write_leaf<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    leaf: &Leaf,
    exists: &AllocatedNum<Fr>,
    address: &AllocatedNum<Fr>,
    pubkey_hash: &AllocatedNum<Fr>,
    nonce: &AllocatedNum<Fr>,
    balance: &AllocatedNum<Fr>,
    account_bits: &[AllocatedBit],
    token_bits: &[AllocatedBit],
) -> Result<AllocatedNum<Fr>, SynthesisError> {
    let balance_root = merkle_root(
        cs.namespace(|| "new balance root"),
        balance,
        token_bits,
        &leaf.balance_path,
    )?;
    let hash_value = hash(
        cs.namespace(|| "new leaf hash"),
        Domain::Account,
        &[
            address.clone(),
            pubkey_hash.clone(),
            nonce.clone(),
            balance_root,
        ],
    )?;
    let new_leaf = mul(cs.namespace(|| "new leaf or empty"), exists, &hash_value)?;
    merkle_root(
        cs.namespace(|| "new account root"),
        &new_leaf,
        account_bits,
        &leaf.account_path,
    )
}

/// `n·2^shift` as a linear-combination term.
fn shifted(x: &AllocatedNum<Fr>, shift: u32) -> LinearCombination<Fr> {
    LinearCombination::zero() + (Fr::from(2u64).pow_vartime([shift as u64]), x.get_variable())
}

/// `s·G` for the fixed generator `G` and a prover-chosen `s` (little-endian bits): two bits
/// at a time, each window adding one of the constants `0, B, 2B, 3B` (`B = 4^w·G`) with the
/// complete addition law, since the prover picks `s` and could otherwise aim at an
/// exceptional case. The window's point is a linear function of its two bits, so a window
/// costs one AND, three allocations and one addition: about a third of double-and-add.
fn fixed_base_mul<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    bits: &[AllocatedBit],
) -> Result<Point, SynthesisError> {
    use group::{prime::PrimeCurveAffine, Curve, Group};
    // Whole windows only: a padding bit would be one more value for the prover to choose.
    assert!(
        bits.len().is_multiple_of(2),
        "an even number of scalar bits"
    );
    let mut acc = Point::default(cs.namespace(|| "infinity"))?;
    let mut base = GrumpkinAffine::generator().to_curve();
    for (w, pair) in bits.chunks(2).enumerate() {
        let mut cs = cs.namespace(|| format!("window {w}"));
        let (b0, b1) = (&pair[0], pair[1].clone());
        let both = AllocatedBit::and(cs.namespace(|| "both"), b0, &b1)?;
        let table: [(Fr, Fr); 3] =
            [base, base.double(), base.double() + base].map(|p| coordinates(&p.to_affine()));
        let x = window_coordinate(
            cs.namespace(|| "x"),
            b0,
            &b1,
            &both,
            [table[0].0, table[1].0, table[2].0],
        )?;
        let y = window_coordinate(
            cs.namespace(|| "y"),
            b0,
            &b1,
            &both,
            [table[0].1, table[1].1, table[2].1],
        )?;
        let bit = |b: &AllocatedBit| b.get_value().map(|v| if v { Fr::ONE } else { Fr::ZERO });
        let (v0, v1, vb) = (bit(b0), bit(&b1), bit(&both));
        let is_infinity = materialise(
            cs.namespace(|| "infinity flag"),
            LinearCombination::zero() + CS::one() - b0.get_variable() - b1.get_variable()
                + both.get_variable(),
            (|| Some(Fr::ONE - v0? - v1? + vb?))(),
        )?;
        let term = Point { x, y, is_infinity };
        acc = acc.add(cs.namespace(|| "add"), &term)?;
        base = base.double().double();
    }
    Ok(acc)
}

/// A window's coordinate from its constants `c = [c1, c2, c3]` (for k = 1, 2, 3; k = 0 is
/// the point at infinity, coordinates 0): `b0·c1 + b1·c2 + both·(c3 - c1 - c2)`.
fn window_coordinate<CS: ConstraintSystem<Fr>>(
    cs: CS,
    b0: &AllocatedBit,
    b1: &AllocatedBit,
    both: &AllocatedBit,
    c: [Fr; 3],
) -> Result<AllocatedNum<Fr>, SynthesisError> {
    let bit = |b: &AllocatedBit| b.get_value().map(|v| if v { Fr::ONE } else { Fr::ZERO });
    let lc = LinearCombination::zero()
        + (c[0], b0.get_variable())
        + (c[1], b1.get_variable())
        + (c[2] - c[0] - c[1], both.get_variable());
    let value = (|| Some(bit(b0)? * c[0] + bit(b1)? * c[1] + bit(both)? * (c[2] - c[0] - c[1])))();
    materialise(cs, lc, value)
}

/// An [`OpStep`] with prover-chosen active flags (see [`OpStep::with_active_flags`]).
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct AdversarialStep {
    step: OpStep,
    active: Vec<bool>,
}

impl AdversarialStep {
    /// Synthesises the step into `cs`.
    pub fn synthesize<CS: ConstraintSystem<Fr>>(
        &self,
        cs: &mut CS,
        z: &[AllocatedNum<Fr>],
    ) -> Result<Vec<AllocatedNum<Fr>>, SynthesisError> {
        self.step.synthesize_with(cs, z, &self.active)
    }
}

impl StepCircuit<Fr> for OpStep {
    fn arity(&self) -> usize {
        2
    }

    fn synthesize<CS: ConstraintSystem<Fr>>(
        &self,
        cs: &mut CS,
        z: &[AllocatedNum<Fr>],
    ) -> Result<Vec<AllocatedNum<Fr>>, SynthesisError> {
        let active: Vec<bool> = (0..self.slots.len()).map(|i| i < self.active).collect();
        self.synthesize_with(cs, z, &active)
    }
}

impl OpStep {
    fn synthesize_with<CS: ConstraintSystem<Fr>>(
        &self,
        cs: &mut CS,
        z: &[AllocatedNum<Fr>],
        active_flags: &[bool],
    ) -> Result<Vec<AllocatedNum<Fr>>, SynthesisError> {
        let (mut root, mut commitment) = (z[0].clone(), z[1].clone());
        let mut previous_active: Option<AllocatedBit> = None;
        for (i, witness) in self.slots.iter().enumerate() {
            let mut cs = cs.namespace(|| format!("slot {i}"));
            let active = AllocatedBit::alloc(cs.namespace(|| "active"), Some(active_flags[i]))?;
            // Active slots come first: an inactive slot is never followed by an active one.
            if let Some(previous) = &previous_active {
                cs.enforce(
                    || "active slots first",
                    |lc| lc + active.get_variable(),
                    |lc| lc + CS::one() - previous.get_variable(),
                    |lc| lc,
                );
            }
            let active_num = num_of_bit(cs.namespace(|| "active num"), &active)?;
            let (new_root, new_commitment) =
                synthesize_op(&mut cs, witness, self.chains, &root, &commitment)?;
            root = select(cs.namespace(|| "root"), &active_num, &new_root, &root)?;
            commitment = select(
                cs.namespace(|| "commitment"),
                &active_num,
                &new_commitment,
                &commitment,
            )?;
            previous_active = Some(active);
        }
        Ok(vec![root, commitment])
    }
}

/// One op: from `(state_root, commitment)` to the values after it.
fn synthesize_op<CS: ConstraintSystem<Fr>>(
    cs: &mut CS,
    w: &StepWitness,
    chains: usize,
    state_root: &AllocatedNum<Fr>,
    commitment: &AllocatedNum<Fr>,
) -> Result<(AllocatedNum<Fr>, AllocatedNum<Fr>), SynthesisError> {
    {
        // Op type as one-hot selectors.
        let mut sel = Vec::with_capacity(OpType::ALL.len());
        for t in OpType::ALL {
            let bit =
                AllocatedBit::alloc(cs.namespace(|| format!("is {t:?}")), Some(w.op_type == t))?;
            sel.push(num_of_bit(cs.namespace(|| format!("is {t:?} num")), &bit)?);
        }
        let one_hot = sel
            .iter()
            .fold(LinearCombination::zero(), |acc, s| acc + s.get_variable());
        enforce_zero(cs.namespace(|| "exactly one type"), one_hot - CS::one());
        let [_noop, deposit, transfer, withdraw, full_exit, change_pubkey] =
            [0, 1, 2, 3, 4, 5].map(|i| sel[i].clone());
        let type_tag = OpType::ALL
            .iter()
            .zip(&sel)
            .fold(LinearCombination::zero(), |acc, (t, s)| {
                acc + (Fr::from(*t as u64), s.get_variable())
            });

        // Fields, range-checked by their bit decompositions.
        let num = |cs: &mut CS, name: &'static str, v: Fr| alloc(cs.namespace(|| name), v);
        let chain = num(cs, "chain", Fr::from(w.chain as u64))?;
        let token = num(cs, "token", Fr::from(w.token as u64))?;
        let account_a = num(cs, "account a", Fr::from(w.account_a as u64))?;
        let account_b = num(cs, "account b", Fr::from(w.account_b as u64))?;
        let amount = num(cs, "amount", fr_from_u128(w.amount))?;
        let address = num(cs, "address", w.address)?;
        let nonce = num(cs, "nonce", Fr::from(w.nonce as u64))?;
        let new_pkh = num(cs, "new pkh", w.new_pubkey_hash)?;
        let chain_bits = bits(cs.namespace(|| "chain bits"), &chain, 4)?;
        let token_bits = bits(cs.namespace(|| "token bits"), &token, 10)?;
        let a_bits = bits(cs.namespace(|| "account a bits"), &account_a, 24)?;
        let b_bits = bits(cs.namespace(|| "account b bits"), &account_b, 24)?;
        bits(cs.namespace(|| "amount bits"), &amount, 128)?;
        let address_bits = bits(cs.namespace(|| "address bits"), &address, 160)?;
        let nonce_bits = bits(cs.namespace(|| "nonce bits"), &nonce, 32)?;
        // The chain set is fixed at genesis (DESIGN §1): `chain <= chains - 1`, shown by
        // `chains - 1 - chain` fitting the chain id's four bits.
        let chain_headroom = materialise(
            cs.namespace(|| "chains - 1 - chain"),
            LinearCombination::zero() + (Fr::from(chains as u64 - 1), CS::one())
                - chain.get_variable(),
            chain.get_value().map(|c| Fr::from(chains as u64 - 1) - c),
        )?;
        bits(cs.namespace(|| "known chain"), &chain_headroom, 4)?;

        // The state root splits into the account and reserve roots and the account count.
        let accounts_root = num(cs, "accounts root", w.roots.0)?;
        let reserves_root = num(cs, "reserves root", w.roots.1)?;
        let count = num(cs, "account count", Fr::from(u64::from(w.account_count)))?;
        let root = hash(
            cs.namespace(|| "state root"),
            Domain::State,
            &[accounts_root.clone(), reserves_root.clone(), count.clone()],
        )?;
        enforce_zero(
            cs.namespace(|| "state root matches"),
            lc(&root) - state_root.get_variable(),
        );

        // Account A.
        let a = alloc_leaf(cs.namespace(|| "A"), &w.a, &a_bits, &token_bits)?;
        enforce_zero(
            cs.namespace(|| "A in accounts root"),
            lc(&a.old_root) - accounts_root.get_variable(),
        );

        // The reserve leaf of (chain, token): index token + 2^10·chain.
        let reserve = num(cs, "reserve", w.reserve)?;
        let reserve_path = alloc_path(cs.namespace(|| "reserve path"), &w.reserve_path)?;
        let reserve_bits: Vec<AllocatedBit> =
            token_bits.iter().chain(&chain_bits).cloned().collect();
        let reserve_old_root = merkle_root(
            cs.namespace(|| "reserve membership"),
            &reserve,
            &reserve_bits,
            &reserve_path,
        )?;
        enforce_zero(
            cs.namespace(|| "reserve in reserves root"),
            lc(&reserve_old_root) - reserves_root.get_variable(),
        );

        // Full exit: pays the balance if the requester owns the account and the chain's
        // reserve covers it, else nothing.
        let address_diff = sub(cs.namespace(|| "owner diff"), &a.address, &address)?;
        let same_owner = is_zero(cs.namespace(|| "same owner"), &address_diff)?;
        let owner_ok = mul(cs.namespace(|| "owner ok"), &a.exists, &same_owner)?;
        let two_128 = Fr::from(2u64).pow_vartime([128]);
        let headroom = materialise(
            cs.namespace(|| "reserve - balance + 2^128"),
            lc(&reserve) - a.balance.get_variable() + (two_128, CS::one()),
            reserve
                .get_value()
                .zip(a.balance.get_value())
                .map(|(r, b)| r - b + two_128),
        )?;
        let headroom_bits = bits(cs.namespace(|| "headroom bits"), &headroom, 129)?;
        let covered = num_of_bit(
            cs.namespace(|| "reserve covers balance"),
            &headroom_bits[128],
        )?;
        let payable = mul(cs.namespace(|| "payable"), &owner_ok, &covered)?;
        let paid = mul(cs.namespace(|| "paid"), &payable, &a.balance)?;

        // Deposit: credited to the owner's account, or to a new account at the next id,
        // unless the balance or the reserve would overflow or the tree is full; then it is
        // refunded on its chain (DESIGN §4: every priority op is processable).
        let two_24 = Fr::from(1u64 << 24);
        let count_gap = materialise(
            cs.namespace(|| "count - 2^24"),
            lc(&count) - (two_24, CS::one()),
            count.get_value().map(|c| c - two_24),
        )?;
        // The count starts at 0 and grows by one only below 2^24, so `count == 2^24`
        // is exactly "every id is taken".
        let full = is_zero(cs.namespace(|| "tree full"), &count_gap)?;
        let not_full = materialise(
            cs.namespace(|| "not full"),
            LinearCombination::zero() + CS::one() - full.get_variable(),
            full.get_value().map(|f| Fr::ONE - f),
        )?;
        let not_exists = materialise(
            cs.namespace(|| "A empty"),
            LinearCombination::zero() + CS::one() - a.exists.get_variable(),
            a.exists.get_value().map(|e| Fr::ONE - e),
        )?;
        let deposit_to_empty = mul(cs.namespace(|| "deposit to empty"), &deposit, &not_exists)?;
        let open_slot = mul(cs.namespace(|| "open slot"), &deposit_to_empty, &not_full)?;
        // A new account takes the next id, never a slot of the prover's choosing.
        enforce_equal_if(
            cs.namespace(|| "new account at the next id"),
            &lc(&open_slot),
            &account_a,
            &count,
        );
        // Reading another owner's account is only how a full tree proves a refund.
        let deposit_not_full = mul(cs.namespace(|| "deposit, not full"), &deposit, &not_full)?;
        cs.enforce(
            || "deposit to another owner's account only when full",
            |_| lc(&deposit_not_full),
            |_| lc(&a.exists) - owner_ok.get_variable(),
            |lc| lc,
        );
        let no_overflow = |cs: &mut CS, name: &'static str, x: &AllocatedNum<Fr>| {
            let sum = materialise(
                cs.namespace(|| format!("{name} + amount")),
                lc(x) + amount.get_variable(),
                x.get_value().zip(amount.get_value()).map(|(x, y)| x + y),
            )?;
            let sum_bits = bits(cs.namespace(|| format!("{name} + amount bits")), &sum, 129)?;
            materialise(
                cs.namespace(|| format!("{name} + amount fits")),
                LinearCombination::zero() + CS::one() - sum_bits[128].get_variable(),
                sum_bits[128]
                    .get_value()
                    .map(|b| if b { Fr::ZERO } else { Fr::ONE }),
            )
        };
        let balance_fits = no_overflow(cs, "balance", &a.balance)?;
        let reserve_fits = no_overflow(cs, "reserve", &reserve)?;
        let fits = mul(cs.namespace(|| "both fit"), &balance_fits, &reserve_fits)?;
        let to_owner = mul(cs.namespace(|| "deposit to owner"), &deposit, &owner_ok)?;
        let credited_existing = mul(cs.namespace(|| "credited to owner"), &to_owner, &fits)?;
        let creates = mul(cs.namespace(|| "creates account"), &open_slot, &fits)?;
        let credited = materialise(
            cs.namespace(|| "credited"),
            lc(&credited_existing) + creates.get_variable(),
            credited_existing
                .get_value()
                .zip(creates.get_value())
                .map(|(x, y)| x + y),
        )?;
        let refunded = materialise(
            cs.namespace(|| "refunded"),
            lc(&deposit) - credited.get_variable(),
            deposit
                .get_value()
                .zip(credited.get_value())
                .map(|(d, c)| d - c),
        )?;
        let refunded_account = mul(cs.namespace(|| "refunded account"), &refunded, &account_a)?;
        let count_after = materialise(
            cs.namespace(|| "count after"),
            lc(&count) + creates.get_variable(),
            count
                .get_value()
                .zip(creates.get_value())
                .map(|(c, n)| c + n),
        )?;

        // Amount movements.
        let published_deposit = mul(cs.namespace(|| "published deposit"), &deposit, &amount)?;
        let deposited = mul(cs.namespace(|| "deposited"), &credited, &amount)?;
        let transferred = mul(cs.namespace(|| "transferred"), &transfer, &amount)?;
        let withdrawn = mul(cs.namespace(|| "withdrawn"), &withdraw, &amount)?;
        let exited = mul(cs.namespace(|| "exited"), &full_exit, &paid)?;

        // A's new fields.
        let balance_a = materialise(
            cs.namespace(|| "A new balance"),
            lc(&a.balance) + deposited.get_variable()
                - transferred.get_variable()
                - withdrawn.get_variable()
                - exited.get_variable(),
            (|| {
                Some(
                    a.balance.get_value()? + deposited.get_value()?
                        - transferred.get_value()?
                        - withdrawn.get_value()?
                        - exited.get_value()?,
                )
            })(),
        )?;
        bits(cs.namespace(|| "A new balance in range"), &balance_a, 128)?;
        let uses_nonce = LinearCombination::zero()
            + transfer.get_variable()
            + withdraw.get_variable()
            + change_pubkey.get_variable();
        let uses_nonce_value =
            (|| Some(transfer.get_value()? + withdraw.get_value()? + change_pubkey.get_value()?))();
        let nonce_a = materialise(
            cs.namespace(|| "A new nonce"),
            lc(&a.nonce) + &uses_nonce,
            a.nonce
                .get_value()
                .zip(uses_nonce_value)
                .map(|(n, u)| n + u),
        )?;
        bits(cs.namespace(|| "A new nonce in range"), &nonce_a, 32)?;
        let pkh_a = select(
            cs.namespace(|| "A new pkh"),
            &change_pubkey,
            &new_pkh,
            &a.pubkey_hash,
        )?;
        let address_a = select(
            cs.namespace(|| "A new address"),
            &creates,
            &address,
            &a.address,
        )?;
        let exists_a = materialise(
            cs.namespace(|| "A exists after"),
            lc(&a.exists) + creates.get_variable(),
            (|| Some(a.exists.get_value()? + creates.get_value()?))(),
        )?;

        // Rules on A.
        cs.enforce(
            || "signer account exists",
            |_| uses_nonce.clone(),
            |lc| lc + CS::one() - a.exists.get_variable(),
            |lc| lc,
        );
        enforce_equal_if(
            cs.namespace(|| "nonce is the account's"),
            &uses_nonce,
            &nonce,
            &a.nonce,
        );
        let pkh_is_zero = is_zero(cs.namespace(|| "new pkh zero"), &new_pkh)?;
        cs.enforce(
            || "no zero pkh",
            |_| lc(&change_pubkey),
            |_| lc(&pkh_is_zero),
            |lc| lc,
        );

        let accounts_mid = write_leaf(
            cs.namespace(|| "A write"),
            &a,
            &exists_a,
            &address_a,
            &pkh_a,
            &nonce_a,
            &balance_a,
            &a_bits,
            &token_bits,
        )?;

        // Account B: a transfer's recipient, in the tree A was just written to.
        let b = alloc_leaf(cs.namespace(|| "B"), &w.b, &b_bits, &token_bits)?;
        enforce_equal_if(
            cs.namespace(|| "B in the updated tree"),
            &lc(&transfer),
            &b.old_root,
            &accounts_mid,
        );
        cs.enforce(
            || "recipient exists",
            |_| lc(&transfer),
            |lc| lc + CS::one() - b.exists.get_variable(),
            |lc| lc,
        );
        let ab_diff = sub(cs.namespace(|| "a - b"), &account_a, &account_b)?;
        let same_account = is_zero(cs.namespace(|| "same account"), &ab_diff)?;
        cs.enforce(
            || "no self transfer",
            |_| lc(&transfer),
            |_| lc(&same_account),
            |lc| lc,
        );
        let balance_b = materialise(
            cs.namespace(|| "B new balance"),
            lc(&b.balance) + transferred.get_variable(),
            b.balance
                .get_value()
                .zip(transferred.get_value())
                .map(|(x, t)| x + t),
        )?;
        bits(cs.namespace(|| "B new balance in range"), &balance_b, 128)?;
        let accounts_b = write_leaf(
            cs.namespace(|| "B write"),
            &b,
            &b.exists,
            &b.address,
            &b.pubkey_hash,
            &b.nonce,
            &balance_b,
            &b_bits,
            &token_bits,
        )?;
        let accounts_new = select(
            cs.namespace(|| "accounts root after"),
            &transfer,
            &accounts_b,
            &accounts_mid,
        )?;

        // Reserve.
        let reserve_new = materialise(
            cs.namespace(|| "new reserve"),
            lc(&reserve) + deposited.get_variable()
                - withdrawn.get_variable()
                - exited.get_variable(),
            (|| {
                Some(
                    reserve.get_value()? + deposited.get_value()?
                        - withdrawn.get_value()?
                        - exited.get_value()?,
                )
            })(),
        )?;
        bits(cs.namespace(|| "new reserve in range"), &reserve_new, 128)?;
        let reserves_new = merkle_root(
            cs.namespace(|| "reserve write"),
            &reserve_new,
            &reserve_bits,
            &reserve_path,
        )?;

        // The L2 signature of transfers and withdrawals.
        let signed = materialise(
            cs.namespace(|| "signed"),
            lc(&transfer) + withdraw.get_variable(),
            transfer
                .get_value()
                .zip(withdraw.get_value())
                .map(|(t, x)| t + x),
        )?;
        let sig = &w.signature;
        // Neither point may be the identity: with `pk.is_infinity = 1` the on-curve check
        // is skipped and `e·P` vanishes, so `R = k·G, s = k` would sign for any key hash.
        // Honest witnesses always carry real points (G for unsigned ops).
        let pk = Point::alloc(
            cs.namespace(|| "pk"),
            Some((sig.public_key.0, sig.public_key.1, sig.public_key_infinity)),
        )?;
        enforce_zero(
            cs.namespace(|| "pk is not the identity"),
            lc(&pk.is_infinity),
        );
        pk.check_on_curve(cs.namespace(|| "pk on curve"))?;
        let r = Point::alloc(
            cs.namespace(|| "R"),
            Some((sig.r.0, sig.r.1, sig.r_infinity)),
        )?;
        enforce_zero(cs.namespace(|| "R is not the identity"), lc(&r.is_infinity));
        r.check_on_curve(cs.namespace(|| "R on curve"))?;
        let s_bits = alloc_bits(cs.namespace(|| "s"), &sig.s_bits)?;
        debug_assert_eq!(s_bits.len(), SCALAR_BITS);
        let pk_hash = hash(
            cs.namespace(|| "pk hash"),
            Domain::PubKey,
            &[pk.x.clone(), pk.y.clone()],
        )?;
        enforce_equal_if(
            cs.namespace(|| "signed by the registered key"),
            &lc(&signed),
            &pk_hash,
            &a.pubkey_hash,
        );
        let packed_t = weighted_sum(
            cs.namespace(|| "transfer packing"),
            &[
                (&account_a, 80),
                (&account_b, 48),
                (&token, 32),
                (&nonce, 0),
            ],
        )?;
        let message_t = hash(
            cs.namespace(|| "transfer message"),
            Domain::Transfer,
            &[packed_t, amount.clone()],
        )?;
        let packed_w = weighted_sum(
            cs.namespace(|| "withdraw packing"),
            &[(&account_a, 64), (&chain, 48), (&token, 32), (&nonce, 0)],
        )?;
        let message_w = hash(
            cs.namespace(|| "withdraw message"),
            Domain::Withdraw,
            &[packed_w, amount.clone(), address.clone()],
        )?;
        let message = select(
            cs.namespace(|| "message"),
            &transfer,
            &message_t,
            &message_w,
        )?;
        let e = hash(
            cs.namespace(|| "challenge"),
            Domain::Challenge,
            &[r.x.clone(), r.y.clone(), a.pubkey_hash.clone(), message],
        )?;
        let e_bits = strict_bits(cs.namespace(|| "challenge bits"), &e)?;
        let lhs = fixed_base_mul(cs.namespace(|| "s G"), &s_bits)?;
        // e is a Poseidon output the prover cannot steer, so Nova's double-and-add with
        // incomplete formulas for the leading bits is safe here (as in Nova's own verifier).
        let e_pk = pk.scalar_mul(cs.namespace(|| "e P"), &e_bits)?;
        let rhs = r.add(cs.namespace(|| "R + e P"), &e_pk)?;
        enforce_equal_if(
            cs.namespace(|| "sG = R + eP (x)"),
            &lc(&signed),
            &lhs.x,
            &rhs.x,
        );
        enforce_equal_if(
            cs.namespace(|| "sG = R + eP (y)"),
            &lc(&signed),
            &lhs.y,
            &rhs.y,
        );
        enforce_equal_if(
            cs.namespace(|| "sG = R + eP (inf)"),
            &lc(&signed),
            &lhs.is_infinity,
            &rhs.is_infinity,
        );

        // Pubdata: the three big-endian chunks of the 64-byte record.
        let pkh_bits = strict_bits(cs.namespace(|| "pkh bits"), &new_pkh)?;
        let amount_field = materialise(
            cs.namespace(|| "published amount"),
            lc(&published_deposit) + withdrawn.get_variable() + exited.get_variable(),
            (|| {
                Some(published_deposit.get_value()? + withdrawn.get_value()? + exited.get_value()?)
            })(),
        )?;
        let dwf = LinearCombination::zero()
            + deposit.get_variable()
            + withdraw.get_variable()
            + full_exit.get_variable();
        let dwf_value =
            (|| Some(deposit.get_value()? + withdraw.get_value()? + full_exit.get_value()?))();
        // A refunded deposit publishes account 0.
        let dwf_fields = shifted(&chain, 224)
            + &shifted(&account_a, 192)
            + &scale(&shifted(&refunded_account, 192), -Fr::ONE)
            + &shifted(&token, 176)
            + &pack(&address_bits[112..], 0);
        let dwf_fields_value = (|| {
            Some(
                chain.get_value()? * pow2(224)
                    + (account_a.get_value()? - refunded_account.get_value()?) * pow2(192)
                    + token.get_value()? * pow2(176)
                    + value_of(&address_bits[112..], 0)?,
            )
        })();
        let dwf0 = product(
            cs.namespace(|| "dwf chunk0"),
            dwf.clone(),
            dwf_value,
            dwf_fields,
            dwf_fields_value,
        )?;
        let dwf1 = product(
            cs.namespace(|| "dwf chunk1"),
            dwf,
            dwf_value,
            pack(&address_bits[..112], 136),
            value_of(&address_bits[..112], 136),
        )?;
        let t_fields = shifted(&account_a, 208) + &shifted(&account_b, 176) + &shifted(&token, 160);
        let t_fields_value = (|| {
            Some(
                account_a.get_value()? * pow2(208)
                    + account_b.get_value()? * pow2(176)
                    + token.get_value()? * pow2(160),
            )
        })();
        let t0 = product(
            cs.namespace(|| "transfer chunk0"),
            lc(&transfer),
            transfer.get_value(),
            t_fields,
            t_fields_value,
        )?;
        let c_fields0 =
            shifted(&chain, 224) + &shifted(&account_a, 192) + &pack(&pkh_bits[64..], 0);
        let c_fields0_value = (|| {
            Some(
                chain.get_value()? * pow2(224)
                    + account_a.get_value()? * pow2(192)
                    + value_of(&pkh_bits[64..], 0)?,
            )
        })();
        let c0 = product(
            cs.namespace(|| "cpk chunk0"),
            lc(&change_pubkey),
            change_pubkey.get_value(),
            c_fields0,
            c_fields0_value,
        )?;
        let c_fields1 =
            pack(&pkh_bits[..64], 184) + &shifted(&a.address, 24) + &pack(&nonce_bits[8..], 0);
        let c_fields1_value = (|| {
            Some(
                value_of(&pkh_bits[..64], 184)?
                    + a.address.get_value()? * pow2(24)
                    + value_of(&nonce_bits[8..], 0)?,
            )
        })();
        let c1 = product(
            cs.namespace(|| "cpk chunk1"),
            lc(&change_pubkey),
            change_pubkey.get_value(),
            c_fields1,
            c_fields1_value,
        )?;
        let c2 = product(
            cs.namespace(|| "cpk chunk2"),
            lc(&change_pubkey),
            change_pubkey.get_value(),
            pack(&nonce_bits[..8], 8),
            value_of(&nonce_bits[..8], 8),
        )?;
        let type_value = (|| {
            let mut acc = Fr::ZERO;
            for (t, s) in OpType::ALL.iter().zip(&sel) {
                acc += Fr::from(*t as u64) * s.get_value()?;
            }
            Some(acc)
        })();
        let chunk0 = materialise(
            cs.namespace(|| "chunk0"),
            LinearCombination::zero()
                + &scale(&type_tag, pow2(240))
                + dwf0.get_variable()
                + &shifted(&amount_field, 48)
                + t0.get_variable()
                + &shifted(&transferred, 32)
                + c0.get_variable(),
            (|| {
                Some(
                    type_value? * pow2(240)
                        + dwf0.get_value()?
                        + amount_field.get_value()? * pow2(48)
                        + t0.get_value()?
                        + transferred.get_value()? * pow2(32)
                        + c0.get_value()?,
                )
            })(),
        )?;
        // The deposit's refund flag is byte 45 of the record: bits 128.. of chunk1.
        let chunk1 = materialise(
            cs.namespace(|| "chunk1"),
            lc(&dwf1) + c1.get_variable() + &shifted(&refunded, 128),
            (|| Some(dwf1.get_value()? + c1.get_value()? + refunded.get_value()? * pow2(128)))(),
        )?;
        let new_commitment = hash(
            cs.namespace(|| "pubdata commitment"),
            Domain::Pubdata,
            &[commitment.clone(), chunk0, chunk1, c2],
        )?;
        let new_root = hash(
            cs.namespace(|| "new state root"),
            Domain::State,
            &[accounts_new, reserves_new, count_after],
        )?;
        Ok((new_root, new_commitment))
    }
}

/// `Σ x·2^shift` as a new number: the packing of signed messages.
fn weighted_sum<CS: ConstraintSystem<Fr>>(
    cs: CS,
    terms: &[(&AllocatedNum<Fr>, u32)],
) -> Result<AllocatedNum<Fr>, SynthesisError> {
    let lc = terms
        .iter()
        .fold(LinearCombination::zero(), |acc, (x, shift)| {
            acc + &shifted(x, *shift)
        });
    let value = terms.iter().try_fold(Fr::ZERO, |acc, (x, shift)| {
        Some(acc + x.get_value()? * pow2(*shift as u64))
    });
    materialise(cs, lc, value)
}

fn pow2(n: u64) -> Fr {
    Fr::from(2u64).pow_vartime([n])
}

fn scale(lc: &LinearCombination<Fr>, by: Fr) -> LinearCombination<Fr> {
    lc.iter()
        .fold(LinearCombination::zero(), |acc, (var, coeff)| {
            acc + (*coeff * by, var)
        })
}

/// `selector · fields` as a new number (one constraint).
fn product<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    selector: LinearCombination<Fr>,
    selector_value: Option<Fr>,
    fields: LinearCombination<Fr>,
    fields_value: Option<Fr>,
) -> Result<AllocatedNum<Fr>, SynthesisError> {
    let out = AllocatedNum::alloc(cs.namespace(|| "product"), || {
        Ok(selector_value.ok_or(SynthesisError::AssignmentMissing)?
            * fields_value.ok_or(SynthesisError::AssignmentMissing)?)
    })?;
    cs.enforce(
        || "selector times fields",
        |_| selector,
        |_| fields,
        |lc| lc + out.get_variable(),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ff::PrimeField;
    use group::{prime::PrimeCurveAffine, Curve};
    use manyfold_types::keys::GrumpkinScalar;
    use nova_snark::frontend::test_cs::TestConstraintSystem;

    fn scalar_bits(s: &GrumpkinScalar) -> Vec<bool> {
        let repr = s.to_repr();
        (0..SCALAR_BITS)
            .map(|i| (repr.as_ref()[i / 8] >> (i % 8)) & 1 == 1)
            .collect()
    }

    /// The windowed fixed-base multiplication equals the native one, also where partial
    /// sums meet their own window's constants (the cases incomplete formulas get wrong).
    #[test]
    fn fixed_base_mul_matches_native_including_edge_scalars() {
        let minus_one = -GrumpkinScalar::ONE;
        let mut scalars = vec![
            GrumpkinScalar::ZERO,
            GrumpkinScalar::ONE,
            GrumpkinScalar::from(2u64),
            GrumpkinScalar::from(5u64),
            minus_one,
        ];
        scalars.push(GrumpkinScalar::from(u64::MAX));
        scalars.push(minus_one - GrumpkinScalar::from(3u64));
        scalars.push(GrumpkinScalar::from(0x5555_5555u64));
        for s in scalars {
            let mut cs = TestConstraintSystem::<Fr>::new();
            let bits = alloc_bits(cs.namespace(|| "s"), &scalar_bits(&s)).unwrap();
            let out = fixed_base_mul(cs.namespace(|| "mul"), &bits).unwrap();
            assert!(
                cs.is_satisfied(),
                "unsatisfied at {:?} for {s:?}",
                cs.which_is_unsatisfied()
            );
            let expected = (GrumpkinAffine::generator() * s).to_affine();
            let infinity = out.is_infinity.get_value() == Some(Fr::ONE);
            if bool::from(expected.is_identity()) {
                assert!(infinity, "{s:?}");
            } else {
                assert!(!infinity);
                assert_eq!(
                    (out.x.get_value().unwrap(), out.y.get_value().unwrap()),
                    coordinates(&expected),
                    "{s:?}"
                );
            }
        }
    }
}
