//! A child process commits numbered batches and is killed with SIGKILL at random points.
//! After each kill the store must hold exactly a prefix of the batches, and at least every
//! batch whose commit had returned (the child reports each on stdout).
//!
//! The child is this test binary itself, run with `--ignored --exact crash_child` and the
//! store's directory in an environment variable.

use manyfold_storage::testing::sigkill_rounds;
use manyfold_storage::{SledStorage, Storage, StorageExt, Table, WriteBatch};

const DIR_VAR: &str = "MANYFOLD_STORAGE_CRASH_DIR";
/// Keys each batch writes, so that a torn batch would be visible.
const KEYS_PER_BATCH: u64 = 16;

struct Items;
impl Table for Items {
    const NAME: &'static str = "items";
    type Key = u64;
    type Value = u64;
}

struct Head;
impl Table for Head {
    const NAME: &'static str = "head";
    type Key = ();
    type Value = u64;
}

#[test]
#[ignore = "run by sled_commits_survive_sigkill_as_a_prefix as its child process"]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let store = SledStorage::open(dir).unwrap();
    let mut next = store.get::<Head>(&()).unwrap().map_or(0, |h| h + 1);
    loop {
        let mut batch = WriteBatch::new();
        for k in 0..KEYS_PER_BATCH {
            batch.put::<Items>(&(next * KEYS_PER_BATCH + k), &next);
        }
        batch.put::<Head>(&(), &next);
        store.commit(batch).unwrap();
        println!("committed {next}");
        next += 1;
    }
}

#[test]
fn sled_commits_survive_sigkill_as_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let summary = sigkill_rounds(
        "crash_child",
        DIR_VAR,
        dir.path(),
        8,
        0x2545_f491_4f6c_dd1d,
        200,
        |round, acknowledged| {
            let store = SledStorage::open(dir.path()).unwrap();
            let head = store.get::<Head>(&()).unwrap();
            assert!(
                head >= acknowledged,
                "round {round}: acknowledged {acknowledged:?} but head is {head:?}"
            );
            let items = store.scan::<Items>().unwrap();
            let expected = head.map_or(0, |h| (h + 1) * KEYS_PER_BATCH);
            assert_eq!(
                items.len() as u64,
                expected,
                "round {round}: a batch was torn or lost"
            );
            for (key, batch) in items {
                assert_eq!(
                    key / KEYS_PER_BATCH,
                    batch,
                    "round {round}: item {key} holds the wrong batch"
                );
            }
        },
    );
    assert!(summary.kills >= 6, "too few kills to test anything");
    assert!(
        summary.last_acknowledged.is_some_and(|n| n > 8),
        "the child made too little progress to test anything"
    );
}
