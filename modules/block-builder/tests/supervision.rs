//! A block builder whose commit fails stops, is restarted by its supervisor from durable
//! state (the state rolls back to the last committed block), and seals the same ops once
//! storage works again: nothing acknowledged is lost, nothing is applied twice.

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use manyfold_block_builder::{BlockBuilderActor, BlockBuilderConfig, BlockStore};
use manyfold_mempool::{MempoolActor, MempoolConfig};
use manyfold_state::testing::{Action, Scenario};
use manyfold_state::L2State;
use manyfold_storage::{MemoryStorage, Order, Result, Storage, StorageError, WriteBatch};
use manyfold_types::block::fr_to_b256;
use manyfold_types::PriorityOp;

/// Memory storage whose commits fail while `failing` is set.
#[derive(Debug, Default)]
struct FlakyStorage {
    inner: MemoryStorage,
    failing: AtomicBool,
}

impl Storage for FlakyStorage {
    fn get_raw(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get_raw(table, key)
    }
    fn scan_raw(&self, table: &'static str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.scan_raw(table)
    }
    fn range_raw(
        &self,
        table: &'static str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        order: Order,
        limit: Option<usize>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.range_raw(table, start, end, order, limit)
    }
    fn commit(&self, batch: WriteBatch) -> Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StorageError::Backend("injected failure".into()));
        }
        self.inner.commit(batch)
    }
}

#[test]
fn a_failed_commit_restarts_the_builder_from_durable_state() {
    actix_rt::System::new().block_on(async {
        let storage = Arc::new(FlakyStorage::default());
        let dyn_storage: Arc<dyn Storage> = storage.clone();
        let state = Arc::new(RwLock::new(genesis()));
        let mempool = MempoolActor::new(
            MempoolConfig::default(),
            dyn_storage.clone(),
            state.clone(),
            Default::default(),
        )
        .start_supervised(Duration::from_secs(5));
        let config = BlockBuilderConfig {
            max_block_time_ms: 20,
            poll_interval_ms: 5,
            ..Default::default()
        };
        let builder =
            BlockBuilderActor::new(config, dyn_storage.clone(), state.clone(), mempool.clone())
                .start_supervised();
        let store = BlockStore::new(dyn_storage.clone());

        let mut scenario = Scenario::new(2, 1, 1);
        let scratch = genesis();
        let deposit = |s: &mut Scenario, user| match s.op(
            &scratch,
            Action::Deposit {
                user,
                chain: 0,
                token: 0,
                amount: 5,
            },
        ) {
            Some(manyfold_types::Op::Deposit(d)) => PriorityOp::Deposit(d),
            other => panic!("{other:?}"),
        };
        let first = deposit(&mut scenario, 0);
        mempool.submit_priority(first).await.unwrap();
        wait(|| store.height().unwrap() == 1).await;

        // The op is durably pooled, then storage fails: its block cannot be committed.
        let second = deposit(&mut scenario, 1);
        storage.failing.store(true, Ordering::SeqCst);
        assert!(
            matches!(
                mempool.submit_priority(second).await,
                Err(manyfold_mempool::MempoolError::Storage(_))
            ),
            "nothing is acknowledged that is not durable"
        );
        storage.failing.store(false, Ordering::SeqCst);
        mempool.submit_priority(second).await.unwrap();
        storage.failing.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            store.height().unwrap(),
            1,
            "nothing was committed while storage failed"
        );
        let block_one = store.block(1).unwrap().unwrap();
        assert_eq!(
            fr_to_b256(&state.read().unwrap().root()),
            block_one.state_root,
            "the restarted builder rolled the state back to the last committed block"
        );

        storage.failing.store(false, Ordering::SeqCst);
        wait(|| store.height().unwrap() == 2).await;
        let block_two = store.block(2).unwrap().unwrap();
        assert_eq!(block_two.ops.len(), 1, "the op is sealed exactly once");
        assert_eq!(block_two.parent_hash, block_one.hash());
        let mut reference = genesis();
        reference.apply(&first.into()).unwrap();
        reference.apply(&second.into()).unwrap();
        assert_eq!(block_two.state_root, fr_to_b256(&reference.root()));
        assert!(mempool.status().await.unwrap().priority_ops == 0);
        builder.stop().await;
    });
}

/// Issue 9 item 4: the actor reads time from an injectable clock; when that clock steps
/// backwards, and again after the builder is stopped and started afresh on the same store,
/// sealed blocks keep their parent's timestamp instead of going back in time.
#[test]
fn a_clock_stepping_backwards_never_makes_a_block_older_than_its_parent() {
    actix_rt::System::new().block_on(async {
        let dyn_storage: Arc<dyn Storage> = Arc::new(MemoryStorage::default());
        let state = Arc::new(RwLock::new(genesis()));
        let mempool = MempoolActor::new(
            MempoolConfig::default(),
            dyn_storage.clone(),
            state.clone(),
            Default::default(),
        )
        .start_supervised(Duration::from_secs(5));
        let config = BlockBuilderConfig {
            max_block_time_ms: 20,
            poll_interval_ms: 5,
            ..Default::default()
        };
        let clock = Arc::new(AtomicU64::new(2_000));
        let start = |clock: Arc<AtomicU64>| {
            BlockBuilderActor::new(config, dyn_storage.clone(), state.clone(), mempool.clone())
                .with_clock(Arc::new(move || clock.load(Ordering::SeqCst)))
                .start_supervised()
        };
        let builder = start(clock.clone());
        let store = BlockStore::new(dyn_storage.clone());
        let mut scenario = Scenario::new(3, 1, 1);
        let scratch = genesis();
        let mut deposit = |user| match scenario.op(
            &scratch,
            Action::Deposit {
                user,
                chain: 0,
                token: 0,
                amount: 5,
            },
        ) {
            Some(manyfold_types::Op::Deposit(d)) => PriorityOp::Deposit(d),
            other => panic!("{other:?}"),
        };

        mempool.submit_priority(deposit(0)).await.unwrap();
        wait(|| store.height().unwrap() == 1).await;
        clock.store(1_500, Ordering::SeqCst); // NTP steps the clock back
        mempool.submit_priority(deposit(1)).await.unwrap();
        wait(|| store.height().unwrap() == 2).await;
        builder.stop().await;

        // A fresh builder on the same store, with a clock further behind.
        clock.store(1_000, Ordering::SeqCst);
        let builder = start(clock.clone());
        mempool.submit_priority(deposit(2)).await.unwrap();
        wait(|| store.height().unwrap() == 3).await;
        builder.stop().await;

        let stamps: Vec<u64> = (1..=3)
            .map(|n| store.block(n).unwrap().unwrap().timestamp)
            .collect();
        assert_eq!(stamps, [2_000, 2_000, 2_000]);
    });
}

#[test]
fn sealing_waits_while_the_proving_backlog_is_full_and_resumes_when_it_drains() {
    actix_rt::System::new().block_on(async {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::default());
        let state = Arc::new(RwLock::new(genesis()));
        let mempool = MempoolActor::new(
            MempoolConfig::default(),
            storage.clone(),
            state.clone(),
            Default::default(),
        )
        .start_supervised(Duration::from_secs(5));
        let config = BlockBuilderConfig {
            max_ops_per_block: 1,
            max_block_time_ms: 1,
            poll_interval_ms: 5,
            max_unproven_blocks: 2,
            ..Default::default()
        };
        let proven = Arc::new(AtomicU64::new(0));
        let reads = proven.clone();
        let builder = BlockBuilderActor::new(config, storage.clone(), state, mempool.clone())
            .with_proven_height(Arc::new(move || Some(reads.load(Ordering::SeqCst) as u32)))
            .start_supervised();
        let store = BlockStore::new(storage.clone());
        let mut scenario = Scenario::new(5, 1, 1);
        let scratch = genesis();
        for user in 0..5 {
            let Some(manyfold_types::Op::Deposit(d)) = scenario.op(
                &scratch,
                Action::Deposit {
                    user,
                    chain: 0,
                    token: 0,
                    amount: 5,
                },
            ) else {
                panic!("a deposit")
            };
            mempool
                .submit_priority(PriorityOp::Deposit(d))
                .await
                .unwrap();
        }
        // Two blocks unproven: the builder stops there, the rest waits in the mempool.
        wait(|| store.height().unwrap() == 2).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(store.height().unwrap(), 2, "nothing sealed past the bound");
        // The prover proves block 1: one more block; then everything.
        proven.store(1, Ordering::SeqCst);
        wait(|| store.height().unwrap() == 3).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(store.height().unwrap(), 3);
        proven.store(3, Ordering::SeqCst);
        wait(|| store.height().unwrap() == 5).await;
        builder.stop().await;
    });
}

async fn wait(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The genesis state of these tests: two local chains (every scenario here uses at most
/// two).
fn genesis() -> L2State {
    L2State::new(manyfold_types::ChainSet::local(2))
}
