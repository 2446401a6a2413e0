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

/// The kill matrix: the devnet killed at each crash point in turn (`MANYFOLD_CRASH_AT`
/// aborts the process there, no shutdown code running), on the same data, with traffic
/// that reaches the point: a transaction acknowledged, a block mid-seal, a proof mid-fold,
/// the primary's commit asked for before a secondary's, one secondary's commit only, a
/// sync hash mid-delivery, an execution asked for on the primary only. After the last
/// restart everything acknowledged is included, the withdrawal is paid, and the chains'
/// own logs show every block committed, proven, synchronized and executed in exactly one
/// transaction of each kind. Calls carry at most two blocks, so backlogs drain in batches
/// and a secondary's confirmed prefix longer than one call is marked and executed in
/// chunks.
#[test]
fn killed_at_every_point_it_resumes_and_lands_each_block_once() {
    let dir = tempfile::tempdir().unwrap();
    let ports = (free_port(), [free_port(), free_port(), free_port()]);
    let small_calls = [
        ("MANYFOLD_SETTLEMENT__MAX_COMMITS_PER_STEP", "2"),
        ("MANYFOLD_SETTLEMENT__MAX_BLOCKS_PER_EXECUTE", "2"),
    ];
    let dev1 = walkthrough::DEV1;
    let dev2 = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

    // Funds first, nothing killed: dev0 and dev1 on alpha (dev0's L2 key registered by a
    // transfer to dev1), dev2 on beta.
    let (devnet, welcome) = spawn_devnet(dir.path(), ports, &small_calls);
    devnet.ok(&[
        "--dev", "0", "deposit", "--chain", "alpha", "--token", "0", "--amount", "1",
    ]);
    devnet.ok(&[
        "--dev", "0", "deposit", "--chain", "alpha", "--token", "0", "--amount", "0.01", "--to",
        dev1,
    ]);
    devnet.ok(&[
        "--dev", "2", "deposit", "--chain", "beta", "--token", "0", "--amount", "2",
    ]);
    devnet.ok(&[
        "--dev", "0", "transfer", "--to", dev1, "--token", "0", "--amount", "0.1",
    ]);
    drop(devnet);

    // Each point in turn, with a deposit on alpha or beta as traffic (its block goes
    // through every stage) or, for the first, a transfer. A command the crash cuts short
    // is not counted: only what it acknowledged must be there at the end.
    let mut dev1_expected = 11u32; // hundredths of ETH on L2
    let points = [
        "mempool.acknowledged",
        "builder.mid_seal",
        "prover.mid_fold",
        "settler.primary_committed",
        "sync.committed",
        "sync.sync_hash_asked",
        "settler.execute_asked",
    ];
    for (round, point) in points.into_iter().enumerate() {
        let mut env = small_calls.to_vec();
        env.push(("MANYFOLD_CRASH_AT", point));
        let (mut devnet, _) = spawn_devnet(dir.path(), ports, &env);
        let chain = if round % 2 == 0 { "alpha" } else { "beta" };
        let traffic = if point == "mempool.acknowledged" {
            devnet.wallet(&[
                "--dev", "0", "transfer", "--to", dev1, "--token", "0", "--amount", "0.05",
            ])
        } else {
            devnet.wallet(&[
                "--dev",
                "1",
                "deposit",
                "--chain",
                chain,
                "--token",
                "0",
                "--amount",
                "0.01",
                "--no-wait",
            ])
        };
        match (point, traffic) {
            // Acknowledged or not, the transfer was durable before the crash: it counts.
            ("mempool.acknowledged", _) => dev1_expected += 5,
            (_, Ok(_)) => dev1_expected += 1,
            (_, Err(_)) => {}
        }
        walkthrough::wait_until(point, Duration::from_secs(240), || {
            devnet.children[0].try_wait().unwrap().is_some()
        });
        let log = std::fs::read_to_string(&devnet.log).unwrap();
        assert!(
            log.contains(&format!("crash point `{point}` reached")),
            "{point}: the devnet died elsewhere:\n{log}"
        );
    }

    // The last restart, nothing armed: everything acknowledged is in, and settles.
    let (devnet, _) = spawn_devnet(dir.path(), ports, &small_calls);
    let expected = format!("token 0: {}", dev1_expected as f64 / 100.0);
    walkthrough::wait_until("dev1's funds on L2", Duration::from_secs(120), || {
        devnet.ok(&["--dev", "1", "balance"]).contains(&expected)
    });
    devnet.ok(&[
        "--dev", "2", "withdraw", "--chain", "beta", "--to", dev2, "--token", "0", "--amount",
        "0.5",
    ]);
    walkthrough::wait_until(
        "the withdrawal claimable after the restarts",
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
    assert!(committed >= 8 && executed >= 8, "{committed} {executed}");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                !text.contains("pipeline stopped") && !text.contains("an operator must look"),
                "{}:\n{text}",
                path.display()
            );
        }
    }
}

/// A prover that hands out a forged proof (`dev.tamper_proofs` flips a byte of each proof
/// as it is submitted): the primary refuses it, the node holds the primary with
/// `proof_rejected` (over RPC and in its log) and sends it no more, and no chain executes
/// anything.
#[test]
fn a_forged_proof_is_refused_held_and_never_resubmitted() {
    let dir = tempfile::tempdir().unwrap();
    let ports = (free_port(), [free_port(), free_port(), free_port()]);
    let (devnet, welcome) = spawn_devnet(
        dir.path(),
        ports,
        &[("MANYFOLD_DEV__TAMPER_PROOFS", "true")],
    );
    devnet.ok(&[
        "--dev", "2", "deposit", "--chain", "beta", "--token", "0", "--amount", "1",
    ]);
    let held = || {
        let status = devnet.rpc("manyfold_getSettlementStatus", vec!["latest".into()]);
        status["chains"][0]["held"].clone()
    };
    walkthrough::wait_until(
        "the primary held for a rejected proof",
        Duration::from_secs(300),
        || held()["reason"] == "proof_rejected",
    );
    let detail = held()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("refused by the contract"), "{detail}");
    assert!(devnet.log_text().contains("settlement held on this chain"));

    // Some seconds later: no proof landed, none was sent again, nothing executed anywhere.
    std::thread::sleep(Duration::from_secs(5));
    let [primary, alpha, beta] = ["primary", "alpha", "beta"].map(|n| settlement(&welcome, n));
    let ledger = devnet.ledger("primary", &primary);
    assert!(ledger.proofs.is_empty(), "{:?}", ledger.proofs);
    assert!(ledger.executes.is_empty());
    assert!(!ledger.commits.is_empty(), "the blocks were committed");
    for (name, contract) in [("alpha", &alpha), ("beta", &beta)] {
        assert!(devnet.ledger(name, contract).executes.is_empty(), "{name}");
    }
    let log = devnet.log_text();
    assert_eq!(
        log.matches("dev.tamper_proofs: submitting a forged proof")
            .count(),
        1,
        "the forged proof is asked for once, never again"
    );
    assert_eq!(held()["reason"], "proof_rejected", "still held");
}
