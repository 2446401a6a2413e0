//! Each rule on its own: a witness that breaks exactly one rule (everything else honest,
//! signatures recomputed where the rule changes signed fields) leaves the step
//! unsatisfiable, at the constraint that states that rule.

mod common;

use manyfold_circuits::StepWitness;
use manyfold_state::testing::{Action, Scenario};
use manyfold_state::{L2State, StateError};
use manyfold_types::{AccountId, Amount, ChainId, Fr, Nonce, Op, TokenId, Transfer, Withdraw};

/// The first unsatisfied constraint, or `None` if the step is satisfied.
fn failing(state: &L2State, op: &Op, witness: StepWitness) -> Option<String> {
    common::step(state, op, witness).err()
}

/// User 0 holds 100 of token 0 on chain 0 with a registered key; chain 0 holds 1,000,100.
fn world() -> (Scenario, L2State) {
    let mut s = Scenario::new(2, 1, 1);
    let mut state = s.genesis();
    for action in [
        Action::Deposit {
            user: 0,
            chain: 0,
            token: 0,
            amount: 100,
        },
        Action::Deposit {
            user: 1,
            chain: 0,
            token: 0,
            amount: 1_000_000,
        },
        Action::ChangePubKey { user: 0, chain: 0 },
    ] {
        let op = s.op(&state, action).unwrap();
        state.apply(&op).unwrap();
    }
    (s, state)
}

fn id(a: u32) -> AccountId {
    AccountId::new(a).unwrap()
}

fn transfer(s: &Scenario, amount: u128, nonce: u32) -> Op {
    Op::Transfer(
        Transfer {
            from: id(0),
            to: id(1),
            token: TokenId::new(0).unwrap(),
            amount: Amount(amount),
            nonce: Nonce(nonce),
        }
        .sign(&s.users[0].l2),
    )
}

fn withdraw(s: &Scenario, amount: u128) -> Op {
    Op::Withdraw(
        Withdraw {
            account: id(0),
            chain: ChainId::new(0).unwrap(),
            token: TokenId::new(0).unwrap(),
            amount: Amount(amount),
            to: s.users[0].address,
            nonce: Nonce(1),
        }
        .sign(&s.users[0].l2),
    )
}

#[test]
fn honest_steps_are_satisfied() {
    let (s, state) = world();
    for op in [transfer(&s, 40, 1), withdraw(&s, 100), Op::Noop] {
        assert_eq!(
            failing(&state, &op, StepWitness::build(&state, &op)),
            None,
            "{op:?}"
        );
    }
}

#[test]
fn an_overdraw_fails_the_balance_range_check() {
    let (s, state) = world();
    let op = withdraw(&s, 101); // properly signed; the chain's reserve would cover it
    assert!(matches!(
        state.check(&op),
        Err(StateError::InsufficientBalance { .. })
    ));
    let at = failing(&state, &op, StepWitness::build(&state, &op)).expect("unsatisfiable");
    assert!(at.contains("A new balance in range"), "failed at {at}");
}

#[test]
fn a_bad_signature_fails_the_signature_equation() {
    let (s, state) = world();
    let mut witness = StepWitness::build(&state, &transfer(&s, 40, 1));
    witness.signature.s_bits[0] ^= true;
    let at = failing(&state, &transfer(&s, 40, 1), witness).expect("unsatisfiable");
    assert!(at.contains("sG = R + eP"), "failed at {at}");
}

#[test]
fn a_wrong_nonce_fails_the_nonce_check() {
    let (s, state) = world();
    let op = transfer(&s, 40, 2); // signed over the wrong nonce: the signature itself is valid
    assert!(matches!(state.check(&op), Err(StateError::BadNonce { .. })));
    let at = failing(&state, &op, StepWitness::build(&state, &op)).expect("unsatisfiable");
    assert!(at.contains("nonce is the account's"), "failed at {at}");
}

#[test]
fn a_wrong_merkle_path_fails_membership() {
    let (s, state) = world();
    let mut witness = StepWitness::build(&state, &transfer(&s, 40, 1));
    witness.a.account_path[3][1] += Fr::from(1u64);
    let at = failing(&state, &transfer(&s, 40, 1), witness).expect("unsatisfiable");
    assert!(at.contains("A in accounts root"), "failed at {at}");

    let mut witness = StepWitness::build(&state, &transfer(&s, 40, 1));
    witness.a.balance_path[0][0] += Fr::from(1u64);
    let at = failing(&state, &transfer(&s, 40, 1), witness).expect("unsatisfiable");
    assert!(at.contains("balance root matches"), "failed at {at}");
}

#[test]
fn a_key_that_is_not_registered_fails_even_with_a_valid_signature() {
    let (s, state) = world();
    // User 1 signs for account 0 with its own (valid, but unregistered) key.
    let op = Op::Transfer(
        Transfer {
            from: id(0),
            to: id(1),
            token: TokenId::new(0).unwrap(),
            amount: Amount(1),
            nonce: Nonce(1),
        }
        .sign(&s.users[1].l2),
    );
    assert!(matches!(state.check(&op), Err(StateError::WrongSigner(_))));
    let at = failing(&state, &op, StepWitness::build(&state, &op)).expect("unsatisfiable");
    assert!(
        at.contains("signed by the registered key"),
        "failed at {at}"
    );
}

#[test]
fn a_withdrawal_beyond_the_reserve_fails_the_reserve_range_check() {
    let mut s = Scenario::new(2, 2, 1);
    let mut state = s.genesis();
    for action in [
        Action::Deposit {
            user: 0,
            chain: 1,
            token: 0,
            amount: 100,
        },
        Action::ChangePubKey { user: 0, chain: 0 },
    ] {
        let op = s.op(&state, action).unwrap();
        state.apply(&op).unwrap();
    }
    let op = withdraw(&s, 50); // chain 0 holds nothing of the token
    assert!(matches!(
        state.check(&op),
        Err(StateError::InsufficientReserve { .. })
    ));
    let at = failing(&state, &op, StepWitness::build(&state, &op)).expect("unsatisfiable");
    assert!(at.contains("new reserve in range"), "failed at {at}");
}
