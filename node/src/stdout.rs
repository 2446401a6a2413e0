//! stdout belongs to the user: only what a command was asked to print goes there.
//!
//! A dependency may print to stdout on its own: halo2curves (0.9, with its `std` feature,
//! which the prover needs for parallelism) prints one `true`/`false` line per bit each time
//! it checks a BN254 G2 point, that is whenever proving parameters or powers of tau are
//! loaded, and no feature turns that off. So the binary keeps a private duplicate of the
//! real stdout for its own output ([`UserOut`]), then points file descriptor 1 at
//! `/dev/null` before anything else runs: whatever any library writes to "stdout"
//! afterwards goes nowhere, and logs go to stderr as before.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};

/// The process's real stdout, kept aside for what the user asked for.
#[derive(Debug)]
pub struct UserOut(File);

impl UserOut {
    /// Keeps a duplicate of the real stdout and silences descriptor 1 for everything
    /// else. Call once, first thing in `main`, before any thread starts.
    pub fn reserve() -> std::io::Result<Self> {
        std::io::stdout().flush()?;
        let real = File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
        let null = File::options().write(true).open("/dev/null")?;
        // SAFETY: dup2 on two descriptors this process owns; descriptor 1 is replaced
        // atomically, and Rust's stdout keeps writing to descriptor 1.
        if unsafe { libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self(real))
    }

    /// Writes `line` and a newline to the real stdout.
    pub fn line(&mut self, line: impl std::fmt::Display) -> std::io::Result<()> {
        writeln!(self.0, "{line}")?;
        self.0.flush()
    }
}

impl Write for UserOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
