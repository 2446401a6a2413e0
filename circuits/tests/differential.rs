//! The circuit against the native state: for random op sequences, valid and invalid, the
//! step is satisfiable exactly when the state accepts the op, and its outputs are the
//! native state root and pubdata commitment.

mod common;

use manyfold_circuits::{OpStep, StepWitness};
use manyfold_state::testing::{Action, Scenario};
use manyfold_state::L2State;
use manyfold_types::pubdata::extend_commitment;
use manyfold_types::{Amount, Fr, Nonce, Op, PrivateKey, Transfer, Withdraw};
use nova_snark::frontend::num::AllocatedNum;
use nova_snark::frontend::test_cs::TestConstraintSystem;
use nova_snark::frontend::ConstraintSystem;
use nova_snark::traits::circuit::StepCircuit;
use rand::{Rng, SeedableRng};

/// Runs one step; returns whether it is satisfied and its outputs.
fn step(state: &L2State, commitment: Fr, op: &Op) -> (bool, Fr, Fr, usize) {
    let mut cs = TestConstraintSystem::<Fr>::new();
    let z = [
        AllocatedNum::alloc(cs.namespace(|| "root"), || Ok(state.root())).unwrap(),
        AllocatedNum::alloc(cs.namespace(|| "commitment"), || Ok(commitment)).unwrap(),
    ];
    // The op alone in its step; the padding Noop reads the state after it.
    let mut after = state.clone();
    let _ = after.apply(op);
    let circuit = OpStep::new(
        vec![StepWitness::build(state, op)],
        StepWitness::build(&after, &Op::Noop),
    );
    let out = circuit.synthesize(&mut cs, &z).unwrap();
    (
        cs.is_satisfied(),
        out[0].get_value().unwrap(),
        out[1].get_value().unwrap(),
        cs.num_constraints(),
    )
}

/// Random mutations of a valid op: most make it invalid, some leave it valid.
fn mutate(op: Op, rng: &mut impl Rng, scenario: &Scenario) -> Op {
    let stranger = PrivateKey::from_seed(b"stranger");
    match op {
        Op::Transfer(t) => {
            let key = if rng.gen_bool(0.5) {
                &stranger
            } else {
                &scenario.users[rng.gen_range(0..scenario.users.len())].l2
            };
            let body = match rng.gen_range(0..4) {
                0 => Transfer {
                    amount: Amount(t.body.amount.0 + rng.gen_range(1..1u128 << 40)),
                    ..t.body
                },
                1 => Transfer {
                    nonce: Nonce(t.body.nonce.0 + rng.gen_range(1..3)),
                    ..t.body
                },
                2 => Transfer {
                    to: manyfold_types::AccountId::new(rng.gen_range(0..40)).unwrap(),
                    ..t.body
                },
                _ => t.body,
            };
            Op::Transfer(body.sign(key))
        }
        Op::Withdraw(w) => {
            let key = if rng.gen_bool(0.3) {
                &stranger
            } else {
                &scenario.users[rng.gen_range(0..scenario.users.len())].l2
            };
            let body = match rng.gen_range(0..3) {
                0 => Withdraw {
                    amount: Amount(w.body.amount.0 + rng.gen_range(1..1u128 << 40)),
                    ..w.body
                },
                1 => Withdraw {
                    nonce: Nonce(w.body.nonce.0.wrapping_sub(1)),
                    ..w.body
                },
                _ => w.body,
            };
            Op::Withdraw(body.sign(key))
        }
        other => other,
    }
}

#[test]
fn circuit_accepts_exactly_what_the_state_accepts() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xd1ff);
    let mut scenario = Scenario::new(5, 2, 2);
    let mut state = scenario.genesis();
    let mut commitment = Fr::from(0u64);
    let (mut accepted, mut refused) = (0, 0);
    let mut constraints = 0;
    // Every op type: deposits and key registrations first, then a random mix in which
    // transfers and withdrawals are mutated half of the time.
    let setup: Vec<Action> = (0..5)
        .flat_map(|user| {
            [
                Action::Deposit {
                    user,
                    chain: (user % 2) as u16,
                    token: 0,
                    amount: 1_000_000,
                },
                Action::ChangePubKey { user, chain: 0 },
            ]
        })
        .collect();
    let mut attempts = 0;
    while attempts < 40 {
        let action = match setup.get(attempts) {
            Some(a) => *a,
            None => scenario.random_action(&mut rng),
        };
        let Some(valid) = scenario.op(&state, action) else {
            continue;
        };
        attempts += 1;
        let op = if rng.gen_bool(0.5) {
            mutate(valid, &mut rng, &scenario)
        } else {
            valid
        };
        let native = state.check(&op);
        let (satisfied, root, new_commitment, n) = step(&state, commitment, &op);
        constraints = n;
        assert_eq!(
            satisfied,
            native.is_ok(),
            "circuit and state disagree on {op:?}: state says {native:?}"
        );
        if let Ok(pubdata) = native {
            state.apply(&op).unwrap();
            commitment = extend_commitment(commitment, &pubdata);
            assert_eq!(root, state.root(), "root differs after {op:?}");
            assert_eq!(
                new_commitment, commitment,
                "commitment differs after {op:?}"
            );
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    println!("{accepted} accepted, {refused} refused, {constraints} constraints per step");
    assert!(
        accepted >= 20 && refused >= 5,
        "the sequence must exercise both sides"
    );
}

fn provable(state: &L2State, op: &Op, witness: StepWitness) -> bool {
    common::step(state, op, witness).is_ok()
}

/// Issue 9 items 1 and 2: edge encodings of signatures and keys. For each, the state's
/// verdict and the circuit's agree: what the state refuses, no witness built from it (with
/// the infinity flags a prover might set) satisfies; the honest signature of the same op
/// is accepted by both, also with `s` unreduced (`s + q`, the same point: the same op
/// under the same key).
#[test]
fn edge_encodings_are_refused_by_both_or_accepted_by_both() {
    use ff::{Field, PrimeField};
    use group::prime::PrimeCurveAffine;
    use manyfold_circuits::SCALAR_BITS;
    use manyfold_types::keys::{challenge, GrumpkinAffine, GrumpkinScalar};
    use manyfold_types::{AccountId, ChainId, Signature, TokenId};

    let mut scenario = Scenario::new(2, 1, 1);
    let mut state = scenario.genesis();
    for action in [
        Action::Deposit {
            user: 0,
            chain: 0,
            token: 0,
            amount: 100,
        },
        Action::ChangePubKey { user: 0, chain: 0 },
    ] {
        let op = scenario.op(&state, action).unwrap();
        state.apply(&op).unwrap();
    }
    let key = &scenario.users[0].l2;
    let body = Withdraw {
        account: AccountId::new(0).unwrap(),
        chain: ChainId::new(0).unwrap(),
        token: TokenId::new(0).unwrap(),
        amount: Amount(10),
        to: scenario.users[0].address,
        nonce: Nonce(1),
    };
    let honest = body.sign(key);
    let sk = common::secret_scalar(key);
    let identity = GrumpkinAffine::identity();
    let e = challenge(&identity, key.public_key().hash(), body.message());
    let with = |signature: Signature| {
        let mut s = honest;
        s.signature = signature;
        Op::Withdraw(s)
    };
    // (name, op, witness tweak)
    type Tweak = fn(&mut StepWitness);
    let cases: Vec<(&str, Op, Tweak)> = vec![
        ("honest", Op::Withdraw(honest), |_| {}),
        (
            "R = identity, s = e·sk",
            with(Signature {
                r: identity,
                s: e * sk,
            }),
            |_| {},
        ),
        (
            "R = identity flagged as infinity",
            with(Signature {
                r: identity,
                s: e * sk,
            }),
            |w| w.signature.r_infinity = true,
        ),
        (
            "s = 0",
            with(Signature {
                r: honest.signature.r,
                s: GrumpkinScalar::ZERO,
            }),
            |_| {},
        ),
        ("key flagged as infinity", Op::Withdraw(honest), |w| {
            w.signature.public_key_infinity = true
        }),
        (
            "key at the identity's coordinates",
            Op::Withdraw(honest),
            |w| {
                w.signature.public_key = (Fr::from(0u64), Fr::from(0u64));
                w.signature.public_key_infinity = true;
            },
        ),
    ];
    for (name, op, tweak) in cases {
        let native = state.check(&op).is_ok();
        let mut witness = StepWitness::build(&state, &op);
        tweak(&mut witness);
        let tweaked = witness != StepWitness::build(&state, &op);
        let circuit = provable(&state, &op, witness);
        if tweaked {
            // A prover's own choice of flags: never provable, whatever the op.
            assert!(!circuit, "{name}: a tweaked witness satisfied the step");
        } else {
            assert_eq!(
                circuit, native,
                "{name}: state says {native}, circuit {circuit}"
            );
        }
    }

    // s + q: the same point as s, so the same op under the same key.
    let order: Vec<bool> = {
        let hex = GrumpkinScalar::MODULUS.trim_start_matches("0x");
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .rev()
            .collect();
        (0..SCALAR_BITS)
            .map(|i| (bytes[i / 8] >> (i % 8)) & 1 == 1)
            .collect()
    };
    // s + q exceeds 254 bits for about two signatures in three: try amounts until one fits.
    let unreduced = (1..=40u128).find_map(|amount| {
        let op = Op::Withdraw(
            Withdraw {
                amount: Amount(amount),
                ..body
            }
            .sign(key),
        );
        let mut witness = StepWitness::build(&state, &op);
        let mut carry = false;
        for (bit, q) in witness.signature.s_bits.iter_mut().zip(&order) {
            let (a, b) = (*bit, *q);
            *bit = a ^ b ^ carry;
            carry = (a && b) || (carry && (a ^ b));
        }
        (!carry).then_some((op, witness))
    });
    let (op, witness) = unreduced.expect("some signature has s + q below 2^254");
    assert!(state.check(&op).is_ok());
    assert!(
        provable(&state, &op, witness),
        "s + q proves the op the state accepts with s"
    );
}
