//! The README's walkthrough, run as a user runs it: `manyfold devnet` in its own process
//! (three embedded chains, contracts deployed on the first start), then `manyfold wallet`
//! commands. A deposit on alpha (native coin and the dev ERC-20), a transfer on L2, a
//! withdrawal to beta: the claim fails until the block is executed on beta (proven on the
//! primary, confirmed everywhere) and succeeds after; the balances on every chain add up.
//! And the devnet's stdout holds its welcome text and nothing else.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use manyfold_chain_conformance::anvil::free_port;
use serde_json::Value;

const DEV1: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

struct Devnet {
    child: Child,
    node: String,
    chains: Vec<(String, u16)>,
    welcome: Vec<String>,
    log: PathBuf,
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_devnet(data: &Path, log: PathBuf) -> Devnet {
    // The parameters every test shares (set up once for three chains, cached under cargo's
    // target tmp dir): the devnet loads them instead of setting them up.
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("manyfold-prover-devnet");
    let _ = manyfold_prover::testing::devnet_params(&shared, 3);
    std::fs::create_dir_all(data).unwrap();
    std::os::unix::fs::symlink(shared.join("ptau"), data.join("insecure-ptau")).unwrap();
    let node_port = free_port();
    let chains: Vec<(String, u16)> = ["primary", "alpha", "beta"]
        .into_iter()
        .map(|name| (name.to_owned(), free_port()))
        .collect();
    let mut command = Command::new(env!("CARGO_BIN_EXE_manyfold"));
    command
        .args(["devnet", "--log", "info", "--data-dir"])
        .arg(data)
        .args(["--rpc-addr", &format!("127.0.0.1:{node_port}")])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .env("MANYFOLD_PROVER__PARAMS_DIR", shared.join("params"))
        .env("MANYFOLD_BLOCK__MAX_BLOCK_TIME_MS", "300");
    for (name, port) in &chains {
        command.env(
            format!("MANYFOLD_CHAINS__{}__RPC", name.to_uppercase()),
            format!("127.0.0.1:{port}"),
        );
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // The welcome is the devnet's only output: read it up to its last line.
    let mut welcome = Vec::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("the devnet exited before its welcome:\n{text}");
        }
        let line = line.trim_end().to_owned();
        let last = line.starts_with("Ctrl-C");
        welcome.push(line);
        if last {
            break;
        }
    }
    // Anything more on stdout (a dependency's stray output) is collected until the end.
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
        assert!(rest.is_empty(), "stray stdout after the welcome: {rest:?}");
    });
    Devnet {
        child,
        node: format!("http://127.0.0.1:{node_port}"),
        chains,
        welcome,
        log,
    }
}

impl Devnet {
    /// Runs `manyfold wallet ARGS`; its stdout when it succeeds, its stderr when it fails.
    fn wallet(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(env!("CARGO_BIN_EXE_manyfold"))
            .arg("wallet")
            .args(["--node", &self.node])
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(stderr)
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        self.wallet(args).unwrap_or_else(|e| {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            panic!("wallet {args:?} failed: {e}\n--- devnet log ---\n{log}")
        })
    }

    fn balance(&self, dev: &str) -> Value {
        serde_json::from_str(&self.ok(&["--dev", dev, "balance", "--json"])).unwrap()
    }

    /// The native balance of `address` on chain `name`, in wei (read with the pinned
    /// `cast`, as any user's tool would).
    fn native(&self, name: &str, address: &str) -> u128 {
        let port = self.chains.iter().find(|(n, _)| n == name).unwrap().1;
        let cast = manyfold_chain_conformance::anvil::pinned_tool("MANYFOLD_CAST", "cast");
        let output = Command::new(cast)
            .args([
                "balance",
                address,
                "--rpc-url",
                &format!("http://127.0.0.1:{port}"),
            ])
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

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn funds_deposited_on_one_chain_are_withdrawn_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = start_devnet(&dir.path().join("devnet"), dir.path().join("devnet.log"));
    assert!(devnet.welcome[0].starts_with("Manyfold devnet"));
    assert!(
        devnet.welcome.iter().any(|l| l.contains("manyfold wallet")),
        "the welcome has a walkthrough"
    );
    for (name, port) in &devnet.chains {
        assert!(
            devnet
                .welcome
                .iter()
                .any(|l| l.contains(name) && l.contains(&format!("127.0.0.1:{port}"))),
            "the welcome names {name}'s endpoint"
        );
    }
    let settlement = |name: &str| -> String {
        let line = devnet
            .welcome
            .iter()
            .find(|l| l.trim_start().starts_with(name) && l.contains("settlement"))
            .unwrap();
        line.split_whitespace().last().unwrap().to_owned()
    };
    let (alpha, beta) = (settlement("alpha"), settlement("beta"));

    // Deposits on alpha (the native coin and the dev ERC-20), one creating dev1's account,
    // and one on beta by dev2 so that beta holds the reserve a withdrawal there needs.
    devnet.ok(&[
        "--dev", "0", "deposit", "--chain", "alpha", "--token", "0", "--amount", "1",
    ]);
    devnet.ok(&[
        "--dev", "0", "deposit", "--chain", "alpha", "--token", "1", "--amount", "100",
    ]);
    devnet.ok(&[
        "--dev", "0", "deposit", "--chain", "alpha", "--token", "0", "--amount", "0.01", "--to",
        DEV1,
    ]);
    devnet.ok(&[
        "--dev", "2", "deposit", "--chain", "beta", "--token", "0", "--amount", "2",
    ]);
    wait_until("the deposits on L2", Duration::from_secs(60), || {
        l2_balance(&devnet.balance("0"), "1") == "100"
            && l2_balance(&devnet.balance("1"), "0") == "0.01"
            && l2_balance(&devnet.balance("2"), "0") == "2"
    });
    assert_eq!(l2_balance(&devnet.balance("0"), "0"), "1");

    // A transfer on L2 (registering dev0's L2 key first), then dev1 withdraws to beta.
    devnet.ok(&[
        "--dev", "0", "transfer", "--to", DEV1, "--token", "0", "--amount", "0.5",
    ]);
    wait_until("the transfer", Duration::from_secs(30), || {
        l2_balance(&devnet.balance("1"), "0") == "0.51"
    });
    let withdrawal = devnet.ok(&[
        "--dev", "1", "withdraw", "--chain", "beta", "--to", DEV1, "--token", "0", "--amount",
        "0.25",
    ]);
    let withdrawal = withdrawal.trim().to_owned();
    wait_until("the withdrawal in a block", Duration::from_secs(30), || {
        l2_balance(&devnet.balance("1"), "0") == "0.26"
    });
    // Sealed, not yet proven and executed: nothing to claim on beta.
    let refused = devnet
        .wallet(&["--dev", "1", "claim", "--chain", "beta", "--token", "0"])
        .unwrap_err();
    assert!(refused.contains("nothing to claim"), "{refused}");

    // Once beta has executed the block (proven on the primary, confirmed everywhere), the
    // claim pays.
    wait_until(
        "the withdrawal claimable on beta",
        Duration::from_secs(300),
        || devnet.balance("1")["chains"][2]["claimable"]["0"].as_str() == Some("0.25"),
    );
    let before = devnet.native("beta", DEV1);
    devnet.ok(&["--dev", "1", "claim", "--chain", "beta", "--token", "0"]);
    let after = devnet.native("beta", DEV1);
    let quarter = 250_000_000_000_000_000u128;
    assert!(
        after > before && after - before <= quarter && after - before > quarter - 10u128.pow(16),
        "dev1 received 0.25 ETH on beta less the claim's gas: {before} -> {after}"
    );

    // Every chain's contract holds what L2 says it owes there: alpha 1.01 ETH and 100
    // DUSD deposited, beta 2 ETH deposited less the 0.25 paid out; L2 balances 0.5 (dev0,
    // after its transfer) + 0.26 (dev1) + 2 (dev2) = 2.76 ETH = 1.01 + 1.75.
    let ether = |x: u128| x * 10u128.pow(16);
    assert_eq!(devnet.native("alpha", &alpha), ether(101));
    assert_eq!(devnet.native("beta", &beta), ether(175));
    assert_eq!(l2_balance(&devnet.balance("0"), "0"), "0.5");
    assert_eq!(l2_balance(&devnet.balance("2"), "0"), "2");
    // Nothing more to claim.
    let again = devnet
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
            serde_json::from_str(&devnet.ok(&["status", &withdrawal, "--json"])).unwrap();
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
