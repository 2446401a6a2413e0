//! Crash points: named places where a test can make the node die at once, as a SIGKILL
//! or a power cut would there, to show that every durable step resumes from what it
//! wrote (DESIGN §9: a node killed at any instruction).
//!
//! `MANYFOLD_CRASH_AT=<name>` (read once, at the first crash point reached) aborts the
//! process the first time the point `name` is reached: no destructor, no flush, no
//! shutdown code runs. Unset, a crash point is one relaxed atomic load. It is a test
//! facility, named in the logs when it fires; nothing else reads the variable.

use std::sync::OnceLock;

/// The environment variable naming the crash point to die at.
pub const CRASH_AT_ENV: &str = "MANYFOLD_CRASH_AT";

fn armed() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var(CRASH_AT_ENV).ok().filter(|s| !s.is_empty()))
        .as_deref()
}

/// Dies here if `MANYFOLD_CRASH_AT` names `name`.
pub fn point(name: &str) {
    if armed() == Some(name) {
        // stderr is unbuffered: the line reaches the log before the process is gone.
        eprintln!("crash point `{name}` reached: aborting ({CRASH_AT_ENV})");
        std::process::abort();
    }
}
