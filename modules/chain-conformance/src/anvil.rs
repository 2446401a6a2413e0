//! anvil, the external EVM chain the plugin tests run against: found, started on a free
//! loopback port, waited for, and killed when dropped.
//!
//! The binary is `$MANYFOLD_ANVIL`, else the copy the test command pins under
//! `<workspace>/tools/node_modules/.bin/anvil`. A missing anvil is a failure, never a skip:
//! a skipped conformance test would pass silently.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// anvil's account 0 (of the public test mnemonic), funded with 10 000 ETH at genesis.
pub const ACCOUNT_0_KEY: [u8; 32] = [
    0xac, 0x09, 0x74, 0xbe, 0xc3, 0x9a, 0x17, 0xe3, 0x6b, 0xa4, 0xa6, 0xb4, 0xd2, 0x38, 0xff, 0x94,
    0x4b, 0xac, 0xb4, 0x78, 0xcb, 0xed, 0x5e, 0xfc, 0xae, 0x78, 0x4d, 0x7b, 0xf4, 0xf2, 0xff, 0x80,
];

/// A tool pinned under `<workspace>/tools` (or named by `env_var`), asserting it exists.
///
/// # Panics
/// When the binary is missing, with how to install it.
pub fn pinned_tool(env_var: &str, name: &str) -> PathBuf {
    let path = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tools/node_modules/.bin")
                .join(name)
        });
    assert!(
        path.exists(),
        "{name} not found at {} (run scripts/test.sh once, or set {env_var})",
        path.display()
    );
    path
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Waits until something accepts connections on loopback `port`.
///
/// # Panics
/// After `timeout`, naming `what`.
pub fn wait_for_port(port: u16, timeout: Duration, what: &str) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + timeout;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not come up on {addr}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A running anvil, killed when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    /// Its loopback port.
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Anvil {
    /// Starts anvil with `args` added (e.g. `["--no-mining"]`, `["--chain-id", "5"]`).
    ///
    /// # Panics
    /// When anvil is missing or does not come up within 20 seconds.
    pub fn start(args: &[&str]) -> Self {
        let path = pinned_tool("MANYFOLD_ANVIL", "anvil");
        let port = free_port();
        let child = Command::new(&path)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
        let anvil = Self {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
        };
        wait_for_port(port, Duration::from_secs(20), "anvil");
        anvil
    }

    /// Kills it (the chain's state is lost: anvil keeps it in memory).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        self.kill();
    }
}
