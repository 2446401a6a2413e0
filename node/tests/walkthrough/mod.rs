//! The README's walkthrough as a user runs it with `manyfold wallet`, against any running
//! setup (the devnet; an embedded primary with anvil secondaries): a deposit on alpha (the
//! native coin and the dev ERC-20), a transfer on L2, a withdrawal to beta; the claim fails
//! until the block is executed on beta (proven on the primary, confirmed everywhere) and
//! succeeds after; the balances on every chain add up; every chain's stages are recorded.

// Shared by several test binaries, each of which uses a part.
#![allow(dead_code)]

pub(crate) mod devnet;
pub(crate) mod ledger;
pub(crate) mod mixed;
pub(crate) mod proxy;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) const DEV1: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

/// A running setup: its processes (killed when dropped), the node's URL, each chain's URL.
pub(crate) struct Setup {
    pub(crate) children: Vec<Child>,
    pub(crate) node: String,
    /// (name, Ethereum JSON-RPC URL) of each chain.
    pub(crate) chains: Vec<(String, String)>,
    /// Chains the node does not serve itself: the wallet is told their URLs.
    pub(crate) external: Vec<String>,
    /// The node's log, shown when a wallet command fails.
    pub(crate) log: PathBuf,
    /// The node's Prometheus endpoint (host:port), where it serves one.
    pub(crate) metrics: Option<String>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Setup {
    pub(crate) fn url(&self, name: &str) -> &str {
        &self.chains.iter().find(|(n, _)| n == name).unwrap().1
    }

    /// Runs `manyfold wallet ARGS`; its stdout when it succeeds, its stderr when it fails.
    pub(crate) fn wallet(&self, args: &[&str]) -> Result<String, String> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_manyfold"));
        command.arg("wallet").args(["--node", &self.node]);
        for name in &self.external {
            command.args(["--chain-rpc", &format!("{name}={}", self.url(name))]);
        }
        let output = command.args(args).output().unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(stderr)
        }
    }

    /// Calls the node's JSON-RPC method `method` with `params`; its result.
    pub(crate) fn rpc(&self, method: &str, params: Vec<Value>) -> Value {
        use jsonrpsee::core::client::ClientT;
        let client = jsonrpsee_http_client::HttpClientBuilder::default()
            .build(&self.node)
            .unwrap();
        let mut array = jsonrpsee::core::params::ArrayParams::new();
        for p in params {
            array.insert(p).unwrap();
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(client.request::<Value, _>(method, array))
            .unwrap()
    }

    /// The value of the metric `series` (its name with labels, as the text format writes
    /// it) on the node's Prometheus endpoint now; `None` while the node has not set it.
    pub(crate) fn metric(&self, series: &str) -> Option<f64> {
        use std::io::{Read, Write};
        let addr = self
            .metrics
            .as_ref()
            .expect("a node with a metrics endpoint");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// The node's log so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        self.wallet(args).unwrap_or_else(|e| {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            panic!("wallet {args:?} failed: {e}\n--- node log ---\n{log}")
        })
    }

    fn balance(&self, dev: &str) -> Value {
        serde_json::from_str(&self.ok(&["--dev", dev, "balance", "--json"])).unwrap()
    }

    /// The native balance of `address` on chain `name`, in wei (read with the pinned
    /// `cast`, as any user's tool would).
    pub(crate) fn native(&self, name: &str, address: &str) -> u128 {
        let cast = manyfold_chain_conformance::anvil::pinned_tool("MANYFOLD_CAST", "cast");
        let output = Command::new(cast)
            .args(["balance", address, "--rpc-url", self.url(name)])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

fn l2_balance(balance: &Value, token: &str) -> String {
    balance["l2"]["balances"][token]
        .as_str()
        .unwrap_or("0")
        .to_owned()
}

pub(crate) fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The walkthrough, on a setup whose alpha and beta settlement contracts are `alpha` and
/// `beta`.
pub(crate) fn run(net: &Setup, alpha: &str, beta: &str) {
    // Deposits on alpha (the native coin and the dev ERC-20), one creating dev1's account,
    // and one on beta by dev2 so that beta holds the reserve a withdrawal there needs.
    net.ok(&[
        "--dev", "0", "deposit", "--chain", "alpha", "--token", "0", "--amount", "1",
    ]);
    net.ok(&[
        "--dev", "0", "deposit", "--chain", "alpha", "--token", "1", "--amount", "100",
    ]);
    net.ok(&[
        "--dev", "0", "deposit", "--chain", "alpha", "--token", "0", "--amount", "0.01", "--to",
        DEV1,
    ]);
    net.ok(&[
        "--dev", "2", "deposit", "--chain", "beta", "--token", "0", "--amount", "2",
    ]);
    wait_until("the deposits on L2", Duration::from_secs(60), || {
        l2_balance(&net.balance("0"), "1") == "100"
            && l2_balance(&net.balance("1"), "0") == "0.01"
            && l2_balance(&net.balance("2"), "0") == "2"
    });
    assert_eq!(l2_balance(&net.balance("0"), "0"), "1");

    // A transfer on L2 (registering dev0's L2 key first), then dev1 withdraws to beta.
    net.ok(&[
        "--dev", "0", "transfer", "--to", DEV1, "--token", "0", "--amount", "0.5",
    ]);
    wait_until("the transfer", Duration::from_secs(30), || {
        l2_balance(&net.balance("1"), "0") == "0.51"
    });
    let withdrawal = net.ok(&[
        "--dev", "1", "withdraw", "--chain", "beta", "--to", DEV1, "--token", "0", "--amount",
        "0.25",
    ]);
    let withdrawal = withdrawal.trim().to_owned();
    wait_until("the withdrawal in a block", Duration::from_secs(30), || {
        l2_balance(&net.balance("1"), "0") == "0.26"
    });
    // Sealed, not yet proven and executed: nothing to claim on beta.
    let refused = net
        .wallet(&["--dev", "1", "claim", "--chain", "beta", "--token", "0"])
        .unwrap_err();
    assert!(refused.contains("nothing to claim"), "{refused}");

    // Once beta has executed the block (proven on the primary, confirmed everywhere), the
    // claim pays.
    wait_until(
        "the withdrawal claimable on beta",
        Duration::from_secs(300),
        || net.balance("1")["chains"][2]["claimable"]["0"].as_str() == Some("0.25"),
    );
    let before = net.native("beta", DEV1);
    net.ok(&["--dev", "1", "claim", "--chain", "beta", "--token", "0"]);
    let after = net.native("beta", DEV1);
    let quarter = 250_000_000_000_000_000u128;
    assert!(
        after > before && after - before <= quarter && after - before > quarter - 10u128.pow(16),
        "dev1 received 0.25 ETH on beta less the claim's gas: {before} -> {after}"
    );

    // Every chain's contract holds what L2 says it owes there: alpha 1.01 ETH and 100
    // DUSD deposited, beta 2 ETH deposited less the 0.25 paid out; L2 balances 0.5 (dev0,
    // after its transfer) + 0.26 (dev1) + 2 (dev2) = 2.76 ETH = 1.01 + 1.75.
    let ether = |x: u128| x * 10u128.pow(16);
    assert_eq!(net.native("alpha", alpha), ether(101));
    assert_eq!(net.native("beta", beta), ether(175));
    assert_eq!(l2_balance(&net.balance("0"), "0"), "0.5");
    assert_eq!(l2_balance(&net.balance("2"), "0"), "2");
    // Nothing more to claim.
    let again = net
        .wallet(&["--dev", "1", "claim", "--chain", "beta", "--token", "0"])
        .unwrap_err();
    assert!(again.contains("nothing to claim"), "{again}");

    // The node records each chain's stages of the withdrawal's block as it reads them
    // from the contracts (a moment after they happen): the primary and beta, which the
    // block touches, reach `executed`, every stage with the transaction that landed it but
    // the primary's `synced` (the secondaries' deliveries reach it); alpha, untouched,
    // stays `sealed`.
    let stages = |chain: &str| -> Vec<(String, bool)> {
        let status: Value =
            serde_json::from_str(&net.ok(&["status", &withdrawal, "--json"])).unwrap();
        status["chains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["chain"] == chain)
            .unwrap()["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["stage"].as_str().unwrap().to_owned(), s["tx"].is_string()))
            .collect()
    };
    wait_until("the stage records", Duration::from_secs(60), || {
        stages("beta").len() == 4 && stages("primary").len() == 4
    });
    let named = |v: &[(&str, bool)]| -> Vec<(String, bool)> {
        v.iter().map(|(s, t)| (s.to_string(), *t)).collect()
    };
    assert_eq!(
        stages("primary"),
        named(&[
            ("committed", true),
            ("proven", true),
            ("synced", false),
            ("executed", true)
        ])
    );
    assert_eq!(
        stages("beta"),
        named(&[
            ("committed", true),
            ("synced", true),
            ("confirmed", true),
            ("executed", true)
        ])
    );
    assert!(stages("alpha").is_empty());
}

/// Reads every chain's settlement events (`contracts`: (chain, settlement contract), the
/// primary first) and checks that each block landed in exactly one mined transaction of
/// each kind, with at most `max_per_tx` blocks per commit or execute transaction. Returns
/// the blocks the primary committed and executed.
pub(crate) fn assert_settled_once(
    net: &Setup,
    contracts: &[(&str, &str)],
    max_per_tx: usize,
) -> (u32, u32) {
    let (primary, rest) = contracts.split_first().unwrap();
    let counts = net
        .ledger(primary.0, primary.1)
        .assert_primary_once(max_per_tx);
    for (chain, contract) in rest {
        net.ledger(chain, contract)
            .assert_secondary_once(chain, max_per_tx);
    }
    counts
}
