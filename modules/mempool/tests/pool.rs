//! The pool's rules, limits, ordering and durability, without a runtime.

use std::collections::{BTreeMap, HashSet};

use manyfold_mempool::{Mempool, MempoolConfig, MempoolError, TokenRegistry};
use manyfold_state::testing::{Action, Scenario};
use manyfold_state::{L2State, StateError};
use manyfold_storage::{MemoryStorage, Storage, WriteBatch};
use manyfold_types::{
    AccountId, Amount, ChainId, Deposit, L2Tx, Nonce, Op, PriorityOp, TokenId, Transfer,
};

fn id(a: u32) -> AccountId {
    AccountId::new(a).unwrap()
}
fn token() -> TokenId {
    TokenId::new(0).unwrap()
}

/// Users 0..3 with keys; user 0 holds 100 of token 0.
fn world() -> (Scenario, L2State) {
    let mut s = Scenario::new(3, 1, 1);
    let mut state = L2State::new(manyfold_types::ChainSet::local(3));
    for (u, amount) in [(0usize, 100u128), (1, 1), (2, 1)] {
        let op = s
            .op(
                &state,
                Action::Deposit {
                    user: u,
                    chain: 0,
                    token: 0,
                    amount,
                },
            )
            .unwrap();
        state.apply(&op).unwrap();
        let op = s
            .op(&state, Action::ChangePubKey { user: u, chain: 0 })
            .unwrap();
        state.apply(&op).unwrap();
    }
    (s, state)
}

fn transfer(s: &Scenario, from: u32, to: u32, amount: u128, nonce: u32) -> L2Tx {
    L2Tx::Transfer(
        Transfer {
            from: id(from),
            to: id(to),
            token: token(),
            amount: Amount(amount),
            nonce: Nonce(nonce),
        }
        .sign(&s.users[from as usize].l2),
    )
}

fn admit(pool: &mut Mempool, tx: L2Tx, state: &L2State) -> Result<(), MempoolError> {
    pool.admit(tx, state, &mut WriteBatch::new()).map(|_| ())
}

#[test]
fn admission_enforces_nonce_order_duplicates_and_queued_balance() {
    let (s, state) = world();
    let mut pool = Mempool::new(MempoolConfig::default(), BTreeMap::new());
    admit(&mut pool, transfer(&s, 0, 1, 60, 1), &state).unwrap();
    assert!(matches!(
        admit(&mut pool, transfer(&s, 0, 1, 60, 1), &state),
        Err(MempoolError::Duplicate(_))
    ));
    assert!(matches!(
        admit(&mut pool, transfer(&s, 0, 1, 5, 1), &state),
        Err(MempoolError::NonceTooLow { .. })
    ));
    assert!(matches!(
        admit(&mut pool, transfer(&s, 0, 1, 5, 0), &state),
        Err(MempoolError::NonceTooLow { .. })
    ));
    assert!(matches!(
        admit(&mut pool, transfer(&s, 0, 1, 5, 3), &state),
        Err(MempoolError::NonceGap { .. })
    ));
    // 60 of 100 is queued: 50 more would overdraw, 40 fits.
    assert!(matches!(
        admit(&mut pool, transfer(&s, 0, 1, 50, 2), &state),
        Err(MempoolError::Rejected(
            StateError::InsufficientBalance { .. }
        ))
    ));
    admit(&mut pool, transfer(&s, 0, 1, 40, 2), &state).unwrap();
    // A queued transaction signed by another key.
    let forged = L2Tx::Transfer(
        Transfer {
            from: id(0),
            to: id(1),
            token: token(),
            amount: Amount(0),
            nonce: Nonce(3),
        }
        .sign(&s.users[1].l2),
    );
    assert!(matches!(
        admit(&mut pool, forged, &state),
        Err(MempoolError::Rejected(StateError::WrongSigner(_)))
    ));
    // The first transaction of an account goes through every state rule.
    assert!(matches!(
        admit(&mut pool, transfer(&s, 1, 0, 2, 1), &state),
        Err(MempoolError::Rejected(
            StateError::InsufficientBalance { .. }
        ))
    ));
    assert_eq!(pool.tx_count(), 2);
}

#[test]
fn limits_are_enforced_with_their_values() {
    let (s, state) = world();
    let config = MempoolConfig {
        max_txs: 3,
        max_txs_per_account: 2,
        max_priority_ops: 1,
    };
    let mut pool = Mempool::new(config, BTreeMap::new());
    admit(&mut pool, transfer(&s, 0, 1, 1, 1), &state).unwrap();
    admit(&mut pool, transfer(&s, 0, 1, 1, 2), &state).unwrap();
    assert_eq!(
        admit(&mut pool, transfer(&s, 0, 1, 1, 3), &state),
        Err(MempoolError::AccountLimit {
            account: id(0),
            limit: 2
        })
    );
    admit(&mut pool, transfer(&s, 1, 0, 1, 1), &state).unwrap();
    assert_eq!(
        admit(&mut pool, transfer(&s, 2, 0, 1, 1), &state),
        Err(MempoolError::Full { limit: 3 })
    );

    let deposit = |serial_id| {
        PriorityOp::Deposit(Deposit {
            chain: ChainId::new(0).unwrap(),
            serial_id,
            address: s.users[0].address,
            token: token(),
            amount: Amount(1),
        })
    };
    pool.admit_priority(deposit(0), &mut WriteBatch::new())
        .unwrap();
    assert_eq!(
        pool.admit_priority(deposit(1), &mut WriteBatch::new()),
        Err(MempoolError::PriorityFull { limit: 1 })
    );
}

#[test]
fn priority_ops_arrive_once_and_in_order() {
    let (s, _) = world();
    let mut cursor = BTreeMap::new();
    cursor.insert(ChainId::new(0).unwrap(), 5);
    let mut pool = Mempool::new(MempoolConfig::default(), cursor);
    let deposit = |serial_id| {
        PriorityOp::Deposit(Deposit {
            chain: ChainId::new(0).unwrap(),
            serial_id,
            address: s.users[0].address,
            token: token(),
            amount: Amount(1),
        })
    };
    assert!(matches!(
        pool.admit_priority(deposit(4), &mut WriteBatch::new()),
        Err(MempoolError::DuplicatePriority { .. })
    ));
    assert!(matches!(
        pool.admit_priority(deposit(6), &mut WriteBatch::new()),
        Err(MempoolError::PriorityGap { expected: 5, .. })
    ));
    pool.admit_priority(deposit(5), &mut WriteBatch::new())
        .unwrap();
    assert!(matches!(
        pool.admit_priority(deposit(5), &mut WriteBatch::new()),
        Err(MempoolError::DuplicatePriority { .. })
    ));
    pool.admit_priority(deposit(6), &mut WriteBatch::new())
        .unwrap();
}

#[test]
fn candidates_put_priority_first_then_take_accounts_in_turn() {
    let (s, state) = world();
    let mut pool = Mempool::new(MempoolConfig::default(), BTreeMap::new());
    for n in 1..=3 {
        admit(&mut pool, transfer(&s, 0, 1, 1, n), &state).unwrap();
    }
    admit(&mut pool, transfer(&s, 1, 0, 1, 1), &state).unwrap();
    let deposit = PriorityOp::Deposit(Deposit {
        chain: ChainId::new(0).unwrap(),
        serial_id: 0,
        address: s.users[2].address,
        token: token(),
        amount: Amount(1),
    });
    pool.admit_priority(deposit, &mut WriteBatch::new())
        .unwrap();

    let picked = pool.candidates(4, &state);
    assert_eq!(picked.len(), 4);
    assert_eq!(picked[0].op, Op::from(deposit));
    let senders: Vec<(u32, u32)> = picked[1..]
        .iter()
        .map(|c| match c.op {
            Op::Transfer(t) => (t.body.from.get(), t.body.nonce.0),
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        senders,
        vec![(0, 1), (1, 1), (0, 2)],
        "one op per account per turn, in nonce order"
    );
}

#[test]
fn sealed_blocks_remove_what_they_consumed_and_prune_what_cannot_run() {
    let (s, mut state) = world();
    let mut pool = Mempool::new(MempoolConfig::default(), BTreeMap::new());
    for n in 1..=3 {
        admit(&mut pool, transfer(&s, 0, 1, 10, n), &state).unwrap();
    }
    let picked = pool.candidates(1, &state);
    state.apply(&picked[0].op).unwrap();
    let consumed: HashSet<u64> = picked.iter().map(|c| c.seq).collect();
    assert!(pool
        .on_block(&consumed, &BTreeMap::new(), &state)
        .is_empty());
    assert_eq!(pool.tx_count(), 2);
    // If nonce 2 fails in a block, nonce 3 can never run: it is pruned.
    let second = pool.candidates(1, &state);
    let consumed: HashSet<u64> = second.iter().map(|c| c.seq).collect();
    assert_eq!(pool.on_block(&consumed, &BTreeMap::new(), &state).len(), 1);
    assert_eq!(pool.tx_count(), 0);
}

#[test]
fn admitted_transactions_are_restored_from_storage() {
    let (s, state) = world();
    let storage = MemoryStorage::new();
    let mut pool = Mempool::new(MempoolConfig::default(), BTreeMap::new());
    let mut batch = WriteBatch::new();
    let h1 = pool
        .admit(transfer(&s, 0, 1, 1, 1), &state, &mut batch)
        .unwrap();
    let h2 = pool
        .admit(transfer(&s, 0, 1, 1, 2), &state, &mut batch)
        .unwrap();
    storage.commit(batch).unwrap();
    // An uncommitted admission is not restored.
    pool.admit(transfer(&s, 1, 0, 1, 1), &state, &mut WriteBatch::new())
        .unwrap();

    let restored =
        Mempool::restore(MempoolConfig::default(), BTreeMap::new(), &storage, &state).unwrap();
    assert_eq!(restored.tx_count(), 2);
    assert!(restored.contains(&h1) && restored.contains(&h2));
}

#[test]
fn admission_right_after_a_block_applied_queued_transactions_sees_the_new_nonce() {
    // Between a block applying pooled transactions and the pool hearing of it, the state
    // is ahead of the pool: the next nonce must still be accepted, and not double-debited.
    let (s, mut state) = world();
    let mut pool = Mempool::new(MempoolConfig::default(), BTreeMap::new());
    admit(&mut pool, transfer(&s, 0, 1, 60, 1), &state).unwrap();
    admit(&mut pool, transfer(&s, 0, 1, 30, 2), &state).unwrap();
    for c in pool.candidates(10, &state) {
        state.apply(&c.op).unwrap();
    }
    admit(&mut pool, transfer(&s, 0, 1, 10, 3), &state).unwrap();
    assert!(matches!(
        admit(&mut pool, transfer(&s, 0, 1, 1, 2), &state),
        Err(MempoolError::NonceTooLow { .. })
    ));
}

#[test]
fn withdrawals_the_destination_cannot_pay_exactly_are_refused_and_not_pooled() {
    let (s, state) = world();
    let withdraw = |chain: u16, amount: u128| {
        L2Tx::Withdraw(
            manyfold_types::Withdraw {
                account: id(0),
                chain: ChainId::new(chain).unwrap(),
                token: token(),
                amount: Amount(amount),
                to: s.users[0].address,
                nonce: Nonce(1),
            }
            .sign(&s.users[0].l2),
        )
    };
    let mut pool = Mempool::new(MempoolConfig::default(), BTreeMap::new());
    // Token 0 is on chain 0 only, with one decimal fewer than L2: a unit of 10.
    let mut tokens = TokenRegistry::new();
    tokens.register(ChainId::new(0).unwrap(), token(), 17);
    pool.set_tokens(tokens);

    let err = admit(&mut pool, withdraw(1, 10), &state).unwrap_err();
    assert!(matches!(err, MempoolError::TokenNotOnChain { .. }), "{err}");
    let err = admit(&mut pool, withdraw(0, 15), &state).unwrap_err();
    assert!(err.to_string().contains("multiple of 10"), "{err}");
    assert_eq!(pool.tx_count(), 0, "refusals pool nothing");
    admit(&mut pool, withdraw(0, 20), &state).unwrap();
    assert_eq!(pool.tx_count(), 1);
}
