//! Exodus end to end (DESIGN §4), every part its own process so that the chains outlive
//! the node: the primary is the embedded chain run alone (`manyfold chain` with the
//! verifier precompile; the node reaches it as kind `evm` with `verifies_proofs = true`),
//! the secondaries are two anvil nodes.
//!
//! The node settles a deposit on the primary, one on beta and a withdrawal to beta, then
//! stops for good. Deposits made after that are never processed: once one has waited past
//! the priority expiry, anyone puts each chain into exodus mode with the wallet. A user
//! exits on the primary with a proof the wallet rebuilds from the primary's calldata alone
//! (no node) and is paid once; the deposits no block consumed are refunded once on every
//! chain; the withdrawal executed on beta before the stop is still claimed there.

mod walkthrough;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use manyfold_chain_conformance::anvil::{free_port, pinned_tool, wait_for_port, Anvil};
use serde_json::Value;
use walkthrough::mixed::{config, manyfold, PrimaryChain};
use walkthrough::wait_until;

const DEV0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const DEV1: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const DEV2: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const DEV3: &str = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";

/// Seconds a priority request may wait before exodus; short, for the test.
const EXPIRY_S: u64 = 20;

/// The processes of the setup, killed when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the wallet needs to reach everything without the node: the deployment file and
/// every chain's endpoint.
struct Net {
    node: String,
    deployment: PathBuf,
    chains: Vec<(&'static str, String)>,
    logs: Vec<PathBuf>,
}

impl Net {
    fn url(&self, name: &str) -> &str {
        &self.chains.iter().find(|(n, _)| *n == name).unwrap().1
    }

    /// `manyfold wallet ARGS`: its stdout when it succeeds, its stderr when it fails.
    fn wallet(&self, args: &[&str]) -> Result<String, String> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_manyfold"));
        command
            .arg("wallet")
            .args(["--node", &self.node, "--deployment"])
            .arg(&self.deployment);
        for (name, url) in &self.chains {
            command.args(["--chain-rpc", &format!("{name}={url}")]);
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

    fn ok(&self, args: &[&str]) -> String {
        self.wallet(args).unwrap_or_else(|e| {
            let logs: String = self
                .logs
                .iter()
                .map(|p| {
                    format!(
                        "--- {} ---\n{}\n",
                        p.display(),
                        tail(&std::fs::read_to_string(p).unwrap_or_default())
                    )
                })
                .collect();
            panic!("wallet {args:?} failed: {e}\n{logs}")
        })
    }

    fn refused(&self, args: &[&str]) -> String {
        match self.wallet(args) {
            Ok(out) => panic!("wallet {args:?} succeeded: {out}"),
            Err(e) => e,
        }
    }

    /// The native balance of `address` on chain `name`, in wei (read with the pinned
    /// `cast`, as any user's tool would).
    fn native(&self, name: &str, address: &str) -> u128 {
        let output = Command::new(pinned_tool("MANYFOLD_CAST", "cast"))
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

    /// Claims `who`'s pending balance of token 0 on `chain`; what it received, gas aside
    /// (checked to be within 0.01 of `expected` wei).
    fn claim(&self, who: &str, address: &str, chain: &str, expected: u128) {
        let before = self.native(chain, address);
        self.ok(&["--dev", who, "claim", "--chain", chain, "--token", "0"]);
        let after = self.native(chain, address);
        assert!(
            after > before && after - before <= expected && after - before > expected - CENT,
            "dev{who} received {expected} wei on {chain} less the claim's gas: {before} -> {after}"
        );
    }
}

const CENT: u128 = 10_000_000_000_000_000;

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(6000);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    &text[start..]
}

#[test]
fn with_the_operator_gone_users_exit_on_the_primary_and_refund_everywhere_once() {
    let alpha = Anvil::start(&["--chain-id", "31338"]);
    let beta = Anvil::start(&["--chain-id", "31339"]);
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("manyfold-prover-devnet");
    let _ = manyfold_prover::testing::devnet_params(&shared, 3);
    let params = shared.join("params");
    let dir = tempfile::tempdir().unwrap();

    // The primary: the embedded chain alone, with the verifier pinned to the devnet key.
    let primary_port = free_port();
    let primary_log = dir.path().join("primary.log");
    let primary = Command::new(env!("CARGO_BIN_EXE_manyfold"))
        .args(["chain", "--data-dir"])
        .arg(dir.path().join("primary"))
        .args(["--rpc-addr", &format!("127.0.0.1:{primary_port}")])
        .args(["--chain-id", "31337", "--log", "warn", "--verifier-params"])
        .arg(&params)
        .args(["--rollup-chains", "3", "--insecure-ptau"])
        .arg(shared.join("ptau"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&primary_log).unwrap())
        .spawn()
        .unwrap();
    let mut children = Children(vec![primary]);
    wait_for_port(primary_port, Duration::from_secs(120), "manyfold chain");

    let data = dir.path().join("node");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink(shared.join("ptau"), data.join("insecure-ptau")).unwrap();
    let node_port = free_port();
    let file = dir.path().join("exodus.toml");
    let text = config(
        &data,
        node_port,
        PrimaryChain::Standalone(primary_port),
        (alpha.port, beta.port),
        EXPIRY_S,
        false,
    );
    std::fs::write(&file, text).unwrap();

    // `manyfold deploy` checks the primary's verifier (the evm plugin's `verifies_proofs`).
    let deployed = manyfold(&["deploy", "--log", "warn"], &file, &params)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(deployed.status.success(), "{deployed:?}");
    let deployment = PathBuf::from(String::from_utf8(deployed.stdout).unwrap().trim());

    let node_log = dir.path().join("node.log");
    let node = manyfold(&["node", "--log", "info"], &file, &params)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&node_log).unwrap())
        .spawn()
        .unwrap();
    children.0.push(node);
    let net = Net {
        node: format!("http://127.0.0.1:{node_port}"),
        deployment,
        chains: vec![
            ("primary", format!("http://127.0.0.1:{primary_port}")),
            ("alpha", format!("http://127.0.0.1:{}", alpha.port)),
            ("beta", format!("http://127.0.0.1:{}", beta.port)),
        ],
        logs: vec![node_log, primary_log],
    };
    wait_until("the node", Duration::from_secs(120), || {
        net.wallet(&["--dev", "0", "balance"]).is_ok()
    });

    // While the node runs: dev0 deposits 1 on the primary, dev1 2 on beta and withdraws
    // 0.5 of it to beta, executed there (proven on the primary, confirmed everywhere).
    net.ok(&[
        "--dev", "0", "deposit", "--chain", "primary", "--token", "0", "--amount", "1",
    ]);
    net.ok(&[
        "--dev", "1", "deposit", "--chain", "beta", "--token", "0", "--amount", "2",
    ]);
    net.ok(&[
        "--dev", "1", "withdraw", "--chain", "beta", "--token", "0", "--amount", "0.5",
    ]);
    wait_until(
        "the withdrawal claimable on beta",
        Duration::from_secs(240),
        || {
            net.wallet(&["--dev", "1", "balance", "--json"])
                .ok()
                .and_then(|b| serde_json::from_str::<Value>(&b).ok())
                .is_some_and(|b| b["chains"][2]["claimable"]["0"].as_str() == Some("0.5"))
        },
    );

    // The operator is gone for good.
    let mut node = children.0.pop().unwrap();
    node.kill().unwrap();
    node.wait().unwrap();

    // Deposits nobody will process: on every chain, one that makes exodus possible there
    // once it expires, and is refunded then.
    for (who, chain, amount) in [
        ("2", "alpha", "0.3"),
        ("2", "beta", "0.2"),
        ("3", "primary", "0.1"),
    ] {
        net.ok(&[
            "--dev",
            who,
            "deposit",
            "--chain",
            chain,
            "--token",
            "0",
            "--amount",
            amount,
            "--no-wait",
        ]);
    }
    let early = net.refused(&["--dev", "0", "exit"]);
    assert!(early.contains("not in exodus mode"), "{early}");
    let early = net.refused(&["--dev", "9", "exodus", "--chain", "alpha"]);
    assert!(early.contains("cannot enter exodus mode yet"), "{early}");

    // Anyone (dev9) activates exodus on each chain once its oldest request has expired.
    for chain in ["primary", "alpha", "beta"] {
        wait_until(
            &format!("exodus on {chain}"),
            Duration::from_secs(EXPIRY_S + 60),
            || {
                net.wallet(&["--dev", "9", "exodus", "--chain", chain])
                    .is_ok()
            },
        );
    }

    // dev0 exits on the primary with a proof rebuilt from the primary's calldata, paid
    // once: a second exit is refused before anything is sent.
    let exited = net.ok(&["--dev", "0", "exit"]);
    assert_eq!(exited.lines().count(), 1, "one token, one exit: {exited}");
    let again = net.refused(&["--dev", "0", "exit"]);
    assert!(again.contains("already exited"), "{again}");
    let again = net.refused(&["--dev", "0", "exit", "--token", "0"]);
    assert!(again.contains("already exited"), "{again}");
    net.claim("0", DEV0, "primary", 100 * CENT);

    // Every chain refunds the deposits no block consumed, once.
    for (who, address, chain, amount) in [
        ("2", DEV2, "alpha", 30 * CENT),
        ("2", DEV2, "beta", 20 * CENT),
        ("3", DEV3, "primary", 10 * CENT),
    ] {
        let refunded = net.ok(&["--dev", who, "refund", "--chain", chain]);
        assert_eq!(refunded.lines().count(), 1, "{refunded}");
        let again = net.refused(&["--dev", who, "refund", "--chain", chain]);
        assert!(again.contains("refunded already"), "{again}");
        net.claim(who, address, chain, amount);
    }
    // dev1's deposit on beta was consumed (it is in the exit root): nothing to refund.
    let consumed = net.refused(&["--dev", "1", "refund", "--chain", "beta"]);
    assert!(consumed.contains("nothing to refund"), "{consumed}");

    // Nothing confirmed is stranded: the withdrawal executed on beta still claims.
    net.claim("1", DEV1, "beta", 50 * CENT);
    drop(children);
}
