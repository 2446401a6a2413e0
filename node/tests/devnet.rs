//! The README's walkthrough on `manyfold devnet`, run as a user runs it: the devnet in its
//! own process (three embedded chains, contracts deployed on the first start), then
//! `manyfold wallet` commands (`walkthrough::run`). And the devnet's stdout holds its
//! welcome text and nothing else.

mod walkthrough;

use std::time::Duration;

use manyfold_chain_conformance::anvil::free_port;
use walkthrough::devnet::{spawn_devnet, start_devnet};

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
/// anything; until the operator, with `manyfold sender`, drops the refused request and
/// restarts without the fault, and everything settles once. Then the same for a commit
/// that a secondary refuses (`dev.tamper_secondary_commits`).
#[test]
fn a_forged_proof_is_refused_and_held_until_the_operator_drops_it() {
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

    // The operator looks, with the node stopped: `manyfold sender status` shows the
    // primary's sender stopped on the refused proof. Clearing would only try the same bytes
    // again, so the operator drops it (and what was asked for behind it) and restarts
    // without the fault: the settler asks again, the proof from the proof store lands, and
    // every chain executes, each block in one transaction of each kind.
    drop(devnet);
    let data = dir.path().join("devnet");
    let sender = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_manyfold"))
            .arg("sender")
            .args(args)
            .args(["--devnet", "--data-dir"])
            .arg(&data)
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let primary_line = |status: &str| -> String {
        status
            .lines()
            .find(|l| l.starts_with("primary "))
            .unwrap_or_else(|| panic!("no primary sender in:\n{status}"))
            .to_owned()
    };
    let (ok, status, err) = sender(&["status"]);
    assert!(ok, "{err}");
    let line = primary_line(&status);
    assert!(
        line.contains("STOPPED") && line.contains("refused by the contract"),
        "{status}"
    );
    assert!(
        status.contains(": not in a block"),
        "the refused proof is listed: {status}"
    );
    for (chain, why) in [("gamma", "no chain `gamma`"), ("alpha", "nothing to drop")] {
        let (ok, out, err) = sender(&["drop", "--chain", chain]);
        assert!(!ok && out.is_empty() && err.contains(why), "{chain}: {err}");
    }
    let (ok, dropped, err) = sender(&["drop", "--chain", "primary"]);
    assert!(ok, "{err}");
    assert!(
        dropped
            .lines()
            .next()
            .is_some_and(|l| l.contains(": prove ")),
        "the refused proof is dropped first: {dropped}"
    );
    let (_, status, _) = sender(&["status"]);
    assert!(primary_line(&status).contains("running"), "{status}");

    let (devnet, _) = spawn_devnet(dir.path(), ports, &[]);
    walkthrough::wait_until(
        "every chain executes after the drop",
        Duration::from_secs(300),
        || {
            let executed =
                |name: &str, contract: &str| !devnet.ledger(name, contract).executes.is_empty();
            executed("primary", &primary) && executed("beta", &beta)
        },
    );
    let (committed, executed) = walkthrough::assert_settled_once(
        &devnet,
        &[("primary", &primary), ("alpha", &alpha), ("beta", &beta)],
        usize::MAX,
    );
    assert!(
        executed >= 1 && executed <= committed,
        "{committed} {executed}"
    );
    let log = devnet.log_text();
    assert!(
        log.contains("an operator dropped these prove requests: asking for them again"),
        "{log}"
    );
    assert!(!log.contains("submitting a forged proof"));

    // The same on a secondary, where a drop takes commits back: a commit to beta that the
    // contract refuses stops beta's sender and holds beta, while nothing past it executes
    // anywhere; dropped, the node's books for beta go back to the last commit still asked
    // for, the commit is asked for again and lands, and everything settles once.
    drop(devnet);
    let (devnet, _) = spawn_devnet(
        dir.path(),
        ports,
        &[("MANYFOLD_DEV__TAMPER_SECONDARY_COMMITS", "true")],
    );
    devnet.ok(&[
        "--dev", "2", "deposit", "--chain", "beta", "--token", "0", "--amount", "1",
    ]);
    let beta_held = r#"manyfold_settlement_held{chain="beta",reason="transaction_reverted"}"#;
    walkthrough::wait_until(
        "beta held for its refused commit",
        Duration::from_secs(300),
        || devnet.metric(beta_held) == Some(1.0),
    );
    // Held, some seconds on: the primary committed the deposit's block but executes
    // nothing at or past it (it cannot confirm it without beta's sync hash).
    std::thread::sleep(Duration::from_secs(5));
    let primary_ledger = devnet.ledger("primary", &primary);
    let newest = |landed: &[(u32, String)]| landed.iter().map(|(b, _)| *b).max().unwrap_or(0);
    assert!(
        newest(&primary_ledger.executes) < newest(&primary_ledger.commits),
        "nothing past beta's refused commit executes: {:?}",
        primary_ledger.executes
    );
    let executed_before = primary_ledger.executes.len();
    drop(devnet);
    let (ok, status, err) = sender(&["status"]);
    assert!(ok, "{err}");
    let beta_line = status
        .lines()
        .find(|l| l.starts_with("beta "))
        .unwrap_or_else(|| panic!("no beta sender in:\n{status}"));
    assert!(beta_line.contains("STOPPED"), "{status}");
    let (ok, dropped, err) = sender(&["drop", "--chain", "beta"]);
    assert!(ok, "{err}");
    assert!(
        dropped
            .lines()
            .next()
            .is_some_and(|l| l.contains(": commit ")),
        "the refused commit is dropped: {dropped}"
    );
    let (devnet, _) = spawn_devnet(dir.path(), ports, &[]);
    walkthrough::wait_until(
        "the deposit's block executed on beta after the drop",
        Duration::from_secs(300),
        || {
            let beta_ledger = devnet.ledger("beta", &beta);
            beta_ledger.commits.last().map(|(block, _)| block)
                == beta_ledger.executes.last().map(|(block, _)| block)
                && devnet.ledger("primary", &primary).executes.len() > executed_before
        },
    );
    walkthrough::assert_settled_once(
        &devnet,
        &[("primary", &primary), ("alpha", &alpha), ("beta", &beta)],
        usize::MAX,
    );
    assert!(devnet
        .log_text()
        .contains("an operator dropped these commit requests: asking for them again"));
}
