//! A child process applies a deterministic sequence of valid ops, committing state changes
//! together with a progress counter in one batch, and is killed with SIGKILL at random
//! points. On reopen the store must hold exactly a prefix of the commits: the rebuilt
//! root equals the root the sequence has after `progress` commits, and no acknowledged
//! commit is lost.

use manyfold_state::testing::Scenario;
use manyfold_state::L2State;
use manyfold_storage::testing::sigkill_rounds;
use manyfold_storage::{SledStorage, Storage, StorageExt, Table, WriteBatch};
use manyfold_types::{ChainSet, Fr, Op};

const DIR_VAR: &str = "MANYFOLD_STATE_CRASH_DIR";
const SEED: u64 = 0x5eed;
const COMMITS: usize = 250;

struct Progress;
impl Table for Progress {
    const NAME: &'static str = "test.progress";
    type Key = ();
    type Value = u64;
}

/// The commits (1 to 4 ops each) and the root after each one.
fn schedule() -> (Vec<Vec<Op>>, Vec<Fr>) {
    let mut state = L2State::new(ChainSet::local(3));
    let mut scenario = Scenario::new(8, 3, 2);
    let ops = scenario.valid_ops(&mut state, SEED, COMMITS * 5 / 2);
    let mut replay = L2State::new(ChainSet::local(3));
    let mut commits = Vec::new();
    let mut roots = vec![replay.root()];
    let mut rest = &ops[..];
    let mut size = 1;
    while !rest.is_empty() && commits.len() < COMMITS {
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        for op in chunk {
            replay.apply(op).unwrap();
        }
        roots.push(replay.root());
        commits.push(chunk.to_vec());
        rest = tail;
        size = size % 4 + 1;
    }
    (commits, roots)
}

#[test]
#[ignore = "run by state_commits_survive_sigkill_as_a_prefix as its child process"]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let (commits, _) = schedule();
    let store = SledStorage::open(dir).unwrap();
    let mut state = L2State::open(&store, ChainSet::local(3)).unwrap();
    let done = store.get::<Progress>(&()).unwrap().unwrap_or(0) as usize;
    for (n, chunk) in commits.iter().enumerate().skip(done) {
        for op in chunk {
            state.apply(op).unwrap();
        }
        let mut batch = WriteBatch::new();
        state.write_changes(&mut batch);
        batch.put::<Progress>(&(), &(n as u64 + 1));
        store.commit(batch).unwrap();
        println!("committed {}", n + 1);
    }
    println!("finished");
}

#[test]
fn state_commits_survive_sigkill_as_a_prefix() {
    let (_, roots) = schedule();
    let dir = tempfile::tempdir().unwrap();
    let summary = sigkill_rounds(
        "crash_child",
        DIR_VAR,
        dir.path(),
        12,
        0x9e37_79b9_7f4a_7c15,
        40,
        |round, acknowledged| {
            let store = SledStorage::open(dir.path()).unwrap();
            let progress = store.get::<Progress>(&()).unwrap().unwrap_or(0);
            let acknowledged = acknowledged.unwrap_or(0);
            assert!(
                progress >= acknowledged,
                "round {round}: commit {acknowledged} was acknowledged, store has {progress}"
            );
            let state =
                L2State::open(&store, ChainSet::local(3)).expect("the store reopens consistent");
            assert_eq!(
                state.root(),
                roots[progress as usize],
                "round {round}: root is not the root after {progress} commits"
            );
        },
    );
    assert!(summary.kills >= 3, "too few kills to test anything");
    assert!(
        summary.last_acknowledged.is_some_and(|n| n > 20),
        "the child made too little progress to test anything"
    );
}
