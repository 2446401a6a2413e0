//! A harness for crash tests (feature `test-utils`): a child process writes and reports
//! each durable commit on stdout as `committed N`; the parent kills it with SIGKILL at
//! pseudo-random points and checks the store after each kill.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the rounds saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrashSummary {
    /// Rounds whose child was killed before it finished.
    pub kills: usize,
    /// The last commit number any child acknowledged.
    pub last_acknowledged: Option<u64>,
}

/// Runs `rounds` rounds. Each spawns the current test binary running only the ignored test
/// `child_test`, with `dir_var` naming `dir`; reads acknowledgements until a pseudo-random
/// count between 1 and `max_acks` (drawn from `seed`), or until the child prints
/// `finished`; kills it; then calls `check(round, last_acknowledged)`. Stops early once a
/// child finishes.
pub fn sigkill_rounds(
    child_test: &str,
    dir_var: &str,
    dir: &Path,
    rounds: usize,
    mut seed: u64,
    max_acks: u64,
    mut check: impl FnMut(usize, Option<u64>),
) -> CrashSummary {
    let mut summary = CrashSummary::default();
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "--ignored",
                "--exact",
                child_test,
                "--nocapture",
                "--test-threads=1",
            ])
            .env(dir_var, dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the child starts");
        // xorshift: reproducible kill points without a dependency.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let kill_after = 1 + seed % max_acks.max(1);
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let started = Instant::now();
        let mut seen = 0;
        let mut finished = false;
        let record = |line: &str, summary: &mut CrashSummary| {
            if let Some(n) = line.strip_prefix("committed ") {
                summary.last_acknowledged = Some(n.parse().expect("a commit number"));
                true
            } else {
                false
            }
        };
        while seen < kill_after && started.elapsed() < Duration::from_secs(60) {
            match lines.next() {
                Some(Ok(line)) if line == "finished" => {
                    finished = true;
                    break;
                }
                Some(Ok(line)) => seen += u64::from(record(&line, &mut summary)),
                _ => break,
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("the child is reaped");
        summary.kills += usize::from(!finished);
        // Whatever the child printed after the last read was acknowledged too.
        for line in lines.map_while(Result::ok) {
            record(&line, &mut summary);
        }
        check(round, summary.last_acknowledged);
        if finished {
            break;
        }
    }
    summary
}
