//! A prover choosing its witness. Each test builds the witness an attacker would, starting
//! from the honest one and setting the values the circuit allocates for itself (infinity
//! flags, the account slot a deposit reads, the account count, active flags), and shows
//! that the step is unsatisfiable, at the constraint that says why. Edge encodings that
//! the native state refuses are shown unprovable too (DESIGN §5).

mod common;

use common::{chain, id, run_step, scalar_bits, secret_scalar, step, token};
use ff::Field;
use group::{prime::PrimeCurveAffine, Curve};
use manyfold_circuits::{OpStep, StepWitness};
use manyfold_state::testing::{Action, Scenario};
use manyfold_state::{state_root, L2State, StateError};
use manyfold_types::keys::{coordinates, GrumpkinAffine, GrumpkinScalar};
use manyfold_types::pubdata::extend_commitment;
use manyfold_types::{Amount, Deposit, Fr, Nonce, Op, OpPubdata, PrivateKey, Signature, Withdraw};
use nova_snark::frontend::num::AllocatedNum;
use nova_snark::frontend::test_cs::TestConstraintSystem;
use nova_snark::frontend::ConstraintSystem;

fn run(root: Fr, witness: StepWitness, padding: StepWitness) -> Result<(Fr, Fr), String> {
    run_step(root, Fr::ZERO, witness, padding)
}

/// Three chains; the victim (user 0) holds 1000 of token 0 on chain 0 with a registered
/// key; user 1 has an account without a key.
fn world() -> (Scenario, L2State) {
    let mut s = Scenario::new(3, 3, 1);
    let mut state = s.genesis();
    for action in [
        Action::Deposit {
            user: 0,
            chain: 0,
            token: 0,
            amount: 1000,
        },
        Action::Deposit {
            user: 1,
            chain: 1,
            token: 0,
            amount: 5,
        },
        Action::ChangePubKey { user: 0, chain: 0 },
    ] {
        let op = s.op(&state, action).unwrap();
        state.apply(&op).unwrap();
    }
    (s, state)
}

/// The thief's withdrawal of the victim's whole balance to the thief's address, signed by
/// the thief's own key: the state refuses it (wrong signer). Also returns the state the
/// theft would leave (as if the victim had signed), which the padding slots read, so that
/// only the theft itself can fail.
fn theft(s: &Scenario, state: &L2State) -> (Op, L2State) {
    let body = Withdraw {
        account: id(0),
        chain: chain(0),
        token: token(0),
        amount: Amount(1000),
        to: s.users[2].address,
        nonce: Nonce(1),
    };
    let op = Op::Withdraw(body.sign(&PrivateKey::from_seed(b"thief")));
    assert!(matches!(state.check(&op), Err(StateError::WrongSigner(_))));
    let mut robbed = state.clone();
    robbed
        .apply(&Op::Withdraw(body.sign(&s.users[0].l2)))
        .unwrap();
    (op, robbed)
}

/// Issue 9 item 1: with the key's infinity flag set, the on-curve check is skipped and
/// `e·P` vanishes, so `R = k·G, s = k` "signs" for the victim's registered key. The
/// forged witness must not satisfy the step.
#[test]
fn a_key_flagged_as_infinity_cannot_forge_a_signature() {
    let (s, state) = world();
    let (op, robbed) = theft(&s, &state);
    let mut witness = StepWitness::build(&state, &op);
    let k = GrumpkinScalar::from(0x1234_5678u64);
    witness.signature.public_key = s.users[0].l2.public_key().coordinates();
    witness.signature.public_key_infinity = true;
    witness.signature.r = coordinates(&(GrumpkinAffine::generator() * k).to_affine());
    witness.signature.s_bits = scalar_bits(&k);
    let padding = StepWitness::build(&robbed, &Op::Noop);
    let at = run(state.root(), witness, padding).expect_err("the forgery must not satisfy");
    assert!(at.contains("pk is not the identity"), "failed at {at}");
}

/// Issue 9 item 1, the same hole on the other point: `R` flagged as infinity.
#[test]
fn a_nonce_point_flagged_as_infinity_is_refused() {
    let (s, state) = world();
    let victim = &s.users[0].l2;
    let op = Op::Withdraw(
        Withdraw {
            account: id(0),
            chain: chain(0),
            token: token(0),
            amount: Amount(1),
            to: s.users[0].address,
            nonce: Nonce(1),
        }
        .sign(victim),
    );
    let mut witness = StepWitness::build(&state, &op);
    witness.signature.r_infinity = true;
    let at = step(&state, &op, witness).expect_err("R may not be the identity");
    assert!(at.contains("R is not the identity"), "failed at {at}");
}

/// Issue 9 item 2: a signature with `R` = identity (`s = e·sk`, made with the user's own
/// key) satisfies the verification equation; it is refused natively, and no witness of it
/// satisfies the step (its honest encoding makes Nova's gadget divide by zero, which the
/// prover never meets because the state refuses it first; flagged as infinity it fails
/// the identity check).
#[test]
fn an_identity_nonce_point_is_refused_natively_and_unprovable() {
    let (s, state) = world();
    let key = &s.users[0].l2;
    let body = Withdraw {
        account: id(0),
        chain: chain(0),
        token: token(0),
        amount: Amount(1),
        to: s.users[0].address,
        nonce: Nonce(1),
    };
    let honest = body.sign(key);
    let identity = GrumpkinAffine::identity();
    let e = manyfold_types::keys::challenge(&identity, key.public_key().hash(), body.message());
    let sk_scalar = secret_scalar(key);
    let mut edge = honest;
    edge.signature = Signature {
        r: identity,
        s: e * sk_scalar,
    };
    let op = Op::Withdraw(edge);
    assert_eq!(state.check(&op), Err(StateError::BadSignature));
    assert!(Signature::from_bytes(&edge.signature.to_bytes()).is_err());
    assert!(step(&state, &op, StepWitness::build(&state, &op)).is_err());
    let mut flagged = StepWitness::build(&state, &op);
    flagged.signature.r_infinity = true;
    let at = step(&state, &op, flagged).expect_err("unprovable");
    assert!(at.contains("R is not the identity"), "failed at {at}");
}

/// Issue 9 item 3: a 0-amount withdrawal naming a chain outside the set is refused by the
/// state and unprovable (the primary's commit would refuse it and halt settlement).
#[test]
fn an_op_naming_an_unknown_chain_is_unprovable() {
    let (s, state) = world();
    let op = Op::Withdraw(
        Withdraw {
            account: id(0),
            chain: chain(3),
            token: token(0),
            amount: Amount(0),
            to: s.users[0].address,
            nonce: Nonce(1),
        }
        .sign(&s.users[0].l2),
    );
    assert!(matches!(
        state.check(&op),
        Err(StateError::UnknownChain { .. })
    ));
    let at = step(&state, &op, StepWitness::build(&state, &op)).expect_err("unprovable");
    assert!(at.contains("known chain"), "failed at {at}");
}

fn deposit(s: &Scenario, user: usize, c: u16, amount: u128) -> Op {
    Op::Deposit(Deposit {
        chain: chain(c),
        serial_id: 0,
        address: s.users[user].address,
        token: token(0),
        amount: Amount(amount),
    })
}

/// Issue 9 item 5: a deposit that would overflow the balance, or the chain's reserve, is
/// proven as a refund: the state and the circuit agree on the root (unchanged) and on the
/// published record (refunded, account 0).
#[test]
fn an_uncreditable_deposit_is_proven_as_a_refund() {
    let (s, mut state) = world();
    // User 1 fills its balance; then any deposit to it overflows, and chain 1's reserve
    // is full too.
    state.apply(&deposit(&s, 1, 1, u128::MAX - 5)).unwrap();
    for (user, c) in [(1usize, 2u16), (2, 1)] {
        let op = deposit(&s, user, c, 7);
        let pubdata = state.check(&op).unwrap();
        assert!(matches!(pubdata, OpPubdata::Deposit { refunded: true, .. }));
        let (root, commitment) =
            step(&state, &op, StepWitness::build(&state, &op)).expect("provable");
        assert_eq!(root, state.root(), "a refund changes nothing");
        assert_eq!(commitment, extend_commitment(Fr::ZERO, &pubdata));
    }
}

/// Issue 9 items 1 and 5: the account a deposit credits is not the prover's to choose. A
/// creditable deposit cannot be refunded by reading another owner's account, nor put in a
/// slot other than the next id.
#[test]
fn a_prover_cannot_misplace_or_refund_a_creditable_deposit() {
    let (s, state) = world();
    let op = deposit(&s, 2, 0, 10); // user 2 has no account: it goes to id 2
    assert!(matches!(
        state.check(&op).unwrap(),
        OpPubdata::Deposit {
            refunded: false,
            ..
        }
    ));
    // Another owner's account (the victim's): refused while the tree is not full.
    let mut foreign = StepWitness::build(&state, &op);
    let victim = StepWitness::build(&state, &deposit(&s, 0, 0, 10));
    foreign.account_a = 0;
    foreign.account_b = 0;
    foreign.a = victim.a.clone();
    foreign.b = victim.b.clone();
    let at = step(&state, &op, foreign).expect_err("no refund by a foreign account");
    assert!(
        at.contains("deposit to another owner's account only when full"),
        "failed at {at}"
    );
    // An empty slot that is not the next id.
    let elsewhere_state = state.clone();
    let mut elsewhere = StepWitness::build(&elsewhere_state, &op);
    let far = elsewhere_state.leaf_snapshot(id(77), token(0));
    elsewhere.account_a = 77;
    elsewhere.account_b = 77;
    elsewhere.a.account_path = far.account_path.0.clone();
    elsewhere.b.account_path = far.account_path.0.clone();
    let at = step(&state, &op, elsewhere).expect_err("new accounts take the next id");
    assert!(at.contains("new account at the next id"), "failed at {at}");
}

/// Issue 9 item 5: when every account id is taken (count = 2^24), a deposit from an
/// address without an account is proven as a refund, read against any other account.
/// The count is part of the state root, so the prover cannot claim a full tree when it
/// is not (the previous test).
#[test]
fn a_full_tree_refunds_deposits_from_new_addresses() {
    let (s, state) = world();
    let full = 1u32 << 24;
    let root = state_root(state.accounts_root(), state.reserves_root(), full);
    let op = deposit(&s, 2, 0, 10);
    let mut witness = StepWitness::build(&state, &op);
    witness.account_count = full;
    let victim = StepWitness::build(&state, &deposit(&s, 0, 0, 10));
    witness.account_a = 0;
    witness.account_b = 0;
    witness.a = victim.a.clone();
    witness.b = victim.b.clone();
    let mut padding = StepWitness::build(&state, &Op::Noop);
    padding.account_count = full;
    let (new_root, commitment) = run(root, witness, padding).expect("a refund is provable");
    assert_eq!(new_root, root, "nothing changes");
    let refund = OpPubdata::Deposit {
        chain: chain(0),
        account: id(0),
        token: token(0),
        amount: Amount(10),
        address: s.users[2].address,
        refunded: true,
    };
    assert_eq!(commitment, extend_commitment(Fr::ZERO, &refund));
}

/// The active flags are the prover's: an inactive slot changes neither root nor
/// commitment, and an active slot after an inactive one is refused.
#[test]
fn active_flags_cannot_reorder_or_smuggle_ops() {
    let (s, state) = world();
    let op = deposit(&s, 2, 0, 10);
    let w = StepWitness::build(&state, &op);
    let mut after = state.clone();
    after.apply(&op).unwrap();
    let noop = StepWitness::build(&after, &Op::Noop);
    let mut slots = vec![noop; manyfold_circuits::OPS_PER_STEP];
    slots[0] = StepWitness::build(&state, &Op::Noop);
    slots[1] = w;
    let mut flags = vec![false; manyfold_circuits::OPS_PER_STEP];
    flags[1] = true;
    let mut cs = TestConstraintSystem::<Fr>::new();
    let z = [
        AllocatedNum::alloc(cs.namespace(|| "root"), || Ok(state.root())).unwrap(),
        AllocatedNum::alloc(cs.namespace(|| "commitment"), || Ok(Fr::ZERO)).unwrap(),
    ];
    OpStep::with_active_flags(slots, flags)
        .synthesize(&mut cs, &z)
        .unwrap();
    let at = cs.which_is_unsatisfied().expect("refused");
    assert!(at.contains("active slots first"), "failed at {at}");
}
