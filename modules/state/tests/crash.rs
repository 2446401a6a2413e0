//! A child process applies a deterministic sequence of valid ops, committing state changes
//! together with a progress counter in one batch, and is killed with SIGKILL at random
//! points. On reopen the store must hold exactly a prefix of the commits: the rebuilt
//! root equals the root the sequence has after `progress` commits, and no acknowledged
//! commit is lost.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use manyfold_state::testing::Scenario;
use manyfold_state::L2State;
use manyfold_storage::{SledStorage, Storage, StorageExt, Table, WriteBatch};
use manyfold_types::{Fr, Op};

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
    let mut state = L2State::new();
    let mut scenario = Scenario::new(8, 3, 2);
    let ops = scenario.valid_ops(&mut state, SEED, COMMITS * 5 / 2);
    let mut replay = L2State::new();
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
    let mut state = L2State::open(&store).unwrap();
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
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut acknowledged = 0u64;
    let mut kills = 0;
    for round in 0..12 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let kill_after = 1 + seed % 40;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let started = Instant::now();
        let mut seen = 0;
        let mut finished = false;
        while seen < kill_after && started.elapsed() < Duration::from_secs(60) {
            match lines.next() {
                Some(Ok(line)) if line == "finished" => {
                    finished = true;
                    break;
                }
                Some(Ok(line)) => {
                    if let Some(n) = line.strip_prefix("committed ") {
                        acknowledged = n.parse().unwrap();
                        seen += 1;
                    }
                }
                _ => break,
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += usize::from(!finished);
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("committed ") {
                acknowledged = n.parse().unwrap();
            }
        }

        let store = SledStorage::open(dir.path()).unwrap();
        let progress = store.get::<Progress>(&()).unwrap().unwrap_or(0);
        assert!(
            progress >= acknowledged,
            "round {round}: commit {acknowledged} was acknowledged, store has {progress}"
        );
        let state = L2State::open(&store).expect("the store reopens consistent");
        assert_eq!(
            state.root(),
            roots[progress as usize],
            "round {round}: root is not the root after {progress} commits"
        );
        if finished {
            break;
        }
    }
    assert!(kills >= 3, "too few kills to test anything");
    assert!(
        acknowledged > 20,
        "the child made too little progress to test anything"
    );
}
