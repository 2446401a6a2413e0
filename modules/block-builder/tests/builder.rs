//! Sealing: blocks chain by hash and pubdata commitment, refused transactions get failed
//! receipts, and everything sealed survives a reopen with the same state root.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use manyfold_block_builder::{BlockBuilder, BlockStore};
use manyfold_mempool::{Candidate, Mempool, MempoolConfig};
use manyfold_state::testing::Scenario;
use manyfold_state::L2State;
use manyfold_storage::{SledStorage, Storage, WriteBatch};
use manyfold_types::block::fr_to_b256;
use manyfold_types::pubdata::extend_commitment;
use manyfold_types::{AccountId, Amount, Fr, L2Tx, Nonce, Op, TokenId, Transfer, TxStatus};

#[test]
fn sealed_blocks_chain_persist_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());
    let state = Arc::new(RwLock::new(genesis()));
    let mut builder = BlockBuilder::open(storage.clone(), state.clone()).unwrap();
    assert_eq!(builder.last_block().number, 0);

    let mut reference = genesis();
    let mut scenario = Scenario::new(4, 2, 2);
    let ops = scenario.valid_ops(&mut reference, 11, 20);
    let candidates = |ops: &[Op], from: u64| -> Vec<Candidate> {
        ops.iter()
            .enumerate()
            .map(|(i, op)| Candidate {
                seq: from + i as u64,
                op: *op,
                tx_hash: None,
                priority: None,
            })
            .collect()
    };
    let first = builder
        .seal(&candidates(&ops[..12], 0), 1)
        .unwrap()
        .unwrap();
    let second = builder
        .seal(&candidates(&ops[12..], 12), 2)
        .unwrap()
        .unwrap();
    assert_eq!(second.block.parent_hash, first.block.hash());
    assert_eq!(second.block.state_root, fr_to_b256(&reference.root()));
    let mut commitment = Fr::from(0u64);
    for op in first.block.ops.iter().chain(&second.block.ops) {
        commitment = extend_commitment(commitment, &op.decoded());
    }
    assert_eq!(second.block.pubdata_commitment, fr_to_b256(&commitment));
    assert!(builder.seal(&[], 3).unwrap().is_none(), "no ops, no block");

    drop(builder);
    let reopened_state = Arc::new(RwLock::new(genesis()));
    let reopened = BlockBuilder::open(storage.clone(), reopened_state.clone()).unwrap();
    assert_eq!(reopened.last_block(), second.block.as_ref());
    assert_eq!(reopened_state.read().unwrap().root(), reference.root());
    let store = BlockStore::new(storage);
    assert_eq!(store.height().unwrap(), 2);
    assert_eq!(store.block(1).unwrap().as_ref(), Some(first.block.as_ref()));
    assert_eq!(
        store.block_ops(2).unwrap().unwrap(),
        ops[12..].to_vec(),
        "the signed ops are kept for the prover"
    );
}

#[test]
fn refused_transactions_get_failed_receipts_and_leave_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());
    let state = Arc::new(RwLock::new(genesis()));
    let mut builder = BlockBuilder::open(storage.clone(), state.clone()).unwrap();
    let mut scenario = Scenario::new(2, 1, 1);
    let setup: Vec<Op> = {
        let mut s = state.write().unwrap();
        let mut ops = Vec::new();
        for action in [
            manyfold_state::testing::Action::Deposit {
                user: 0,
                chain: 0,
                token: 0,
                amount: 10,
            },
            manyfold_state::testing::Action::Deposit {
                user: 1,
                chain: 0,
                token: 0,
                amount: 10,
            },
            manyfold_state::testing::Action::ChangePubKey { user: 0, chain: 0 },
        ] {
            let op = scenario.op(&s, action).unwrap();
            s.apply(&op).unwrap();
            ops.push(op);
        }
        *s = genesis();
        ops
    };
    let seal_ops = setup
        .iter()
        .enumerate()
        .map(|(i, op)| Candidate {
            seq: i as u64,
            op: *op,
            tx_hash: None,
            priority: None,
        })
        .collect::<Vec<_>>();
    builder.seal(&seal_ops, 1).unwrap().unwrap();

    // Two transfers admitted against the same balance: the second fails at sealing.
    let mut pool = Mempool::new(MempoolConfig::default(), BTreeMap::new());
    let spend = |nonce: u32| {
        L2Tx::Transfer(
            Transfer {
                from: AccountId::new(0).unwrap(),
                to: AccountId::new(1).unwrap(),
                token: TokenId::new(0).unwrap(),
                amount: Amount(8),
                nonce: Nonce(nonce),
            }
            .sign(&scenario.users[0].l2),
        )
    };
    let mut batch = WriteBatch::new();
    pool.admit(spend(1), &state.read().unwrap(), &mut batch)
        .unwrap();
    storage.commit(batch).unwrap();
    let mut candidates = pool.candidates(10, &state.read().unwrap());
    let mut doomed = candidates[0].clone();
    doomed.seq = 99;
    doomed.op = Op::from(spend(2));
    doomed.tx_hash = Some(spend(2).hash());
    candidates.push(doomed);
    let sealed = builder.seal(&candidates, 2).unwrap().unwrap();
    assert_eq!(sealed.block.ops.len(), 1);
    assert_eq!(sealed.receipts[0].status, TxStatus::Included);
    assert_eq!(sealed.receipts[1].status, TxStatus::Failed);
    assert!(sealed.receipts[1]
        .error
        .as_deref()
        .unwrap()
        .contains("less than 8"));
    assert!(sealed.consumed.contains(&99));
    let store = BlockStore::new(storage.clone());
    assert_eq!(
        store.receipt(&spend(2).hash()).unwrap().unwrap().status,
        TxStatus::Failed
    );
    // The admitted row went with the block: a restored pool is empty.
    let restored = Mempool::restore(
        MempoolConfig::default(),
        BTreeMap::new(),
        storage.as_ref(),
        &state.read().unwrap(),
    )
    .unwrap();
    assert_eq!(restored.tx_count(), 0);
}

/// Issue 9 item 4: a clock that steps backwards must never give a block a timestamp below
/// its parent's (every later commit would revert `TimestampBackwards` on the contracts),
/// and the previous timestamp survives a restart because it is read from the stored last
/// block.
#[test]
fn block_timestamps_never_go_backwards_even_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());
    let state = Arc::new(RwLock::new(genesis()));
    let mut builder = BlockBuilder::open(storage.clone(), state.clone()).unwrap();
    let mut reference = genesis();
    let mut scenario = Scenario::new(2, 1, 1);
    let ops = scenario.valid_ops(&mut reference, 5, 4);
    let one = |i: usize| {
        vec![Candidate {
            seq: i as u64,
            op: ops[i],
            tx_hash: None,
            priority: None,
        }]
    };

    let first = builder.seal(&one(0), 1_000).unwrap().unwrap();
    assert_eq!(first.block.timestamp, 1_000);
    // The clock steps back by a minute.
    let second = builder.seal(&one(1), 940).unwrap().unwrap();
    assert_eq!(
        second.block.timestamp, 1_000,
        "a block is never older than its parent"
    );
    assert_eq!(builder.next_timestamp(0), 1_000);

    // After a restart the previous timestamp comes from the stored last block.
    drop(builder);
    let mut builder =
        BlockBuilder::open(storage.clone(), Arc::new(RwLock::new(genesis()))).unwrap();
    let third = builder.seal(&one(2), 10).unwrap().unwrap();
    assert_eq!(third.block.timestamp, 1_000);
    // Once the clock catches up, it is used again.
    let fourth = builder.seal(&one(3), 1_005).unwrap().unwrap();
    assert_eq!(fourth.block.timestamp, 1_005);

    let store = BlockStore::new(storage);
    let stamps: Vec<u64> = (1..=4)
        .map(|n| store.block(n).unwrap().unwrap().timestamp)
        .collect();
    assert_eq!(stamps, [1_000, 1_000, 1_000, 1_005]);
}

/// Issue 9 item 5: a deposit that cannot be credited (it would overflow the depositor's
/// balance) used to fail in the state, hold its chain's priority lane for good and keep
/// taking the first candidate slots. It is now sealed as a refund, consumed like any
/// request, and the next request of its chain is sealed in the same block.
#[test]
fn an_uncreditable_deposit_is_sealed_as_a_refund_and_never_blocks_its_lane() {
    use manyfold_types::{ChainId, Deposit, OpPubdata, PriorityRef};
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());
    let state = Arc::new(RwLock::new(genesis()));
    let mut builder = BlockBuilder::open(storage.clone(), state.clone()).unwrap();
    let scenario = Scenario::new(2, 1, 1);
    let chain = ChainId::new(0).unwrap();
    let deposit = |serial_id: u64, user: usize, amount: u128| Candidate {
        seq: serial_id,
        op: Op::Deposit(Deposit {
            chain,
            serial_id,
            address: scenario.users[user].address,
            token: TokenId::new(0).unwrap(),
            amount: Amount(amount),
        }),
        tx_hash: None,
        priority: Some(PriorityRef { chain, serial_id }),
    };
    builder
        .seal(&[deposit(0, 0, u128::MAX - 10)], 1)
        .unwrap()
        .unwrap();
    let root = state.read().unwrap().root();
    let sealed = builder
        .seal(&[deposit(1, 0, 20), deposit(2, 1, 7)], 2)
        .unwrap()
        .expect("a block");
    let ops: Vec<OpPubdata> = sealed.block.ops.iter().map(|op| op.decoded()).collect();
    assert_eq!(ops.len(), 2, "both requests are consumed");
    assert!(matches!(ops[0], OpPubdata::Deposit { refunded: true, .. }));
    assert!(matches!(
        ops[1],
        OpPubdata::Deposit {
            refunded: false,
            ..
        }
    ));
    assert_eq!(
        BlockStore::new(storage.clone())
            .priority_cursor()
            .unwrap()
            .get(&chain)
            .copied(),
        Some(3),
        "the lane moved past both"
    );
    assert_ne!(
        state.read().unwrap().root(),
        root,
        "the second deposit was credited"
    );
    assert_eq!(
        state
            .read()
            .unwrap()
            .balance(AccountId::new(0).unwrap(), TokenId::new(0).unwrap()),
        Amount(u128::MAX - 10),
        "the refunded deposit credited nothing"
    );
}

/// The genesis state of these tests: two local chains (every scenario here uses at most
/// two).
fn genesis() -> L2State {
    L2State::new(manyfold_types::ChainSet::local(2))
}
