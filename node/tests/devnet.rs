//! The README's walkthrough on `manyfold devnet`, run as a user runs it: the devnet in its
//! own process (three embedded chains, contracts deployed on the first start), then
//! `manyfold wallet` commands (`walkthrough::run`). And the devnet's stdout holds its
//! welcome text and nothing else.

mod walkthrough;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use manyfold_chain_conformance::anvil::free_port;
use walkthrough::Setup;

/// Starts the devnet on free ports; returns it with its welcome, line by line.
fn start_devnet(dir: &Path) -> (Setup, Vec<String>) {
    let ports = (free_port(), [free_port(), free_port(), free_port()]);
    spawn_devnet(dir, ports, &[])
}

/// Starts (or restarts) the devnet in `dir` with the node's and the chains' ports.
/// `env`: more settings (`MANYFOLD_...` variables).
fn spawn_devnet(
    dir: &Path,
    (node_port, chain_ports): (u16, [u16; 3]),
    env: &[(&str, &str)],
) -> (Setup, Vec<String>) {
    // The parameters every test shares (set up once for three chains, cached under cargo's
    // target tmp dir): the devnet loads them instead of setting them up.
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("manyfold-prover-devnet");
    let _ = manyfold_prover::testing::devnet_params(&shared, 3);
    let data = dir.join("devnet");
    if !data.exists() {
        std::fs::create_dir_all(&data).unwrap();
        std::os::unix::fs::symlink(shared.join("ptau"), data.join("insecure-ptau")).unwrap();
    }
    let chains: Vec<(String, u16)> = ["primary", "alpha", "beta"]
        .into_iter()
        .zip(chain_ports)
        .map(|(name, port)| (name.to_owned(), port))
        .collect();
    // Each start logs to a file of its own (a restart's log beside the first).
    let mut log = dir.join("devnet.log");
    let mut n = 1;
    while log.exists() {
        n += 1;
        log = dir.join(format!("devnet-{n}.log"));
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_manyfold"));
    command
        .args(["devnet", "--log", "info", "--data-dir"])
        .arg(&data)
        .args(["--rpc-addr", &format!("127.0.0.1:{node_port}")])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .env("MANYFOLD_PROVER__PARAMS_DIR", shared.join("params"))
        .env("MANYFOLD_BLOCK__MAX_BLOCK_TIME_MS", "300")
        .envs(env.iter().copied());
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
    // Anything more on stdout (a dependency's stray output) fails the test at the end.
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
        assert!(rest.is_empty(), "stray stdout after the welcome: {rest:?}");
    });
    let setup = Setup {
        children: vec![child],
        node: format!("http://127.0.0.1:{node_port}"),
        chains: chains
            .into_iter()
            .map(|(name, port)| (name, format!("http://127.0.0.1:{port}")))
            .collect(),
        external: Vec::new(),
        log,
    };
    (setup, welcome)
}

#[test]
fn funds_deposited_on_one_chain_are_withdrawn_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, welcome) = start_devnet(dir.path());
    assert!(welcome[0].starts_with("Manyfold devnet"));
    assert!(
        welcome.iter().any(|l| l.contains("manyfold wallet")),
        "the welcome has a walkthrough"
    );
    for (name, url) in &devnet.chains {
        assert!(
            welcome.iter().any(|l| l.contains(name) && l.contains(url)),
            "the welcome names {name}'s endpoint"
        );
    }
    let [primary, alpha, beta] = ["primary", "alpha", "beta"].map(|n| settlement(&welcome, n));
    walkthrough::run(&devnet, &alpha, &beta);
    walkthrough::assert_settled_once(
        &devnet,
        &[("primary", &primary), ("alpha", &alpha), ("beta", &beta)],
        16,
    );
}

/// The settlement contract of chain `name`, as the welcome names it.
fn settlement(welcome: &[String], name: &str) -> String {
    let line = welcome
        .iter()
        .find(|l| l.trim_start().starts_with(name) && l.contains("settlement"))
        .unwrap();
    line.split_whitespace().last().unwrap().to_owned()
}

/// Killed with SIGKILL right after a withdrawal is acknowledged (commits, proofs and
/// deliveries in flight), the devnet restarted on the same data settles the withdrawal
/// and sends nothing twice: the chains' own logs show every block committed, proven,
/// synchronized and executed in exactly one transaction of each kind. Calls carry at most
/// two blocks here, so backlogs are drained in batches and a secondary's confirmed prefix
/// longer than one call is marked and executed in chunks.
#[test]
fn killed_mid_settlement_it_resumes_and_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let ports = (free_port(), [free_port(), free_port(), free_port()]);
    let small_calls = [
        ("MANYFOLD_SETTLEMENT__MAX_COMMITS_PER_STEP", "2"),
        ("MANYFOLD_SETTLEMENT__MAX_BLOCKS_PER_EXECUTE", "2"),
    ];
    let (devnet, welcome) = spawn_devnet(dir.path(), ports, &small_calls);
    let dev2 = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
    // Several deposits on beta, so that beta has more blocks than one call carries.
    for amount in ["2", "0.1", "0.1", "0.1"] {
        devnet.ok(&[
            "--dev",
            "2",
            "deposit",
            "--chain",
            "beta",
            "--token",
            "0",
            "--amount",
            amount,
            "--no-wait",
        ]);
    }
    walkthrough::wait_until("the deposits on L2", Duration::from_secs(60), || {
        devnet
            .ok(&["--dev", "2", "balance"])
            .contains("token 0: 2.3")
    });
    devnet.ok(&[
        "--dev", "2", "withdraw", "--chain", "beta", "--to", dev2, "--token", "0", "--amount",
        "0.5",
    ]);
    drop(devnet); // SIGKILL

    let (devnet, _) = spawn_devnet(dir.path(), ports, &small_calls);
    walkthrough::wait_until(
        "the withdrawal claimable after the restart",
        Duration::from_secs(300),
        || {
            devnet
                .ok(&["--dev", "2", "balance", "--json"])
                .contains("\"claimable\":{\"0\":\"0.5\"}")
        },
    );
    devnet.ok(&["--dev", "2", "claim", "--chain", "beta", "--token", "0"]);
    let [primary, alpha, beta] = ["primary", "alpha", "beta"].map(|n| settlement(&welcome, n));
    let (committed, executed) = walkthrough::assert_settled_once(
        &devnet,
        &[("primary", &primary), ("alpha", &alpha), ("beta", &beta)],
        2,
    );
    assert!(committed >= 2 && executed >= 2, "{committed} {executed}");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                !text.contains("pipeline stopped"),
                "{}:\n{text}",
                path.display()
            );
            assert!(
                !text.contains("an operator must look"),
                "{}:\n{text}",
                path.display()
            );
        }
    }
}
