//! Settlement under faults (DESIGN §8, §9), played against the running node and real
//! chains: the mixed setup (the node with its embedded primary, two anvil secondaries),
//! beta reached through a proxy the test switches off and on.

mod walkthrough;

use std::time::Duration;

use manyfold_chain_conformance::anvil::Anvil;
use serde_json::Value;
use walkthrough::proxy::{Mode, Proxy};
use walkthrough::{wait_until, Setup};

const DEV2: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

fn status(net: &Setup, block: u64) -> Value {
    net.rpc(
        "manyfold_getSettlementStatus",
        vec![format!("{block:#x}").into()],
    )
}

fn latest_block(net: &Setup) -> u64 {
    let status = net.rpc("manyfold_getSettlementStatus", vec!["latest".into()]);
    u64::from_str_radix(
        status["number"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap()
}

/// beta's chain entry (id 2) in a block's status.
fn beta(status: &Value) -> &Value {
    &status["chains"][2]
}

/// One secondary unreachable for a while, refusing connections, then answering errors,
/// then hanging: the other chains keep committing, the block that needs beta is held on
/// beta (`chain_unreachable`, over RPC) and executed nowhere, as the primary confirms a
/// block only once every secondary's sync hash arrived; once beta answers again the hold
/// lifts by itself, everything completes and each block landed once per kind.
#[test]
fn a_secondary_down_holds_only_what_needs_it_and_everything_completes_when_it_is_back() {
    let alpha = Anvil::start(&["--chain-id", "31338"]);
    let beta_anvil = Anvil::start(&["--chain-id", "31339"]);
    let proxy = Proxy::start(beta_anvil.port);
    let dir = tempfile::tempdir().unwrap();
    let mixed = walkthrough::mixed::start(
        dir.path(),
        alpha.port,
        proxy.port,
        [alpha.port, beta_anvil.port],
        &[
            ("MANYFOLD_CHAINS__BETA__REQUEST_TIMEOUT_MS", "1000"),
            ("MANYFOLD_CHAINS__BETA__MAX_RETRIES", "1"),
        ],
    );
    let net = &mixed.setup;
    let [primary, alpha_contract, beta_contract] =
        ["primary", "alpha", "beta"].map(|n| mixed.settlement(n));

    net.ok(&[
        "--dev", "2", "deposit", "--chain", "beta", "--token", "0", "--amount", "2",
    ]);
    net.ok(&[
        "--dev", "0", "deposit", "--chain", "alpha", "--token", "0", "--amount", "1",
    ]);

    // beta goes away. A withdrawal to beta (an L2 transaction: the node takes it) and a
    // deposit on alpha follow.
    proxy.set(Mode::Refuse);
    let alpha_commits = net.ledger("alpha", &alpha_contract).commits.len();
    net.ok(&[
        "--dev", "2", "withdraw", "--chain", "beta", "--to", DEV2, "--token", "0", "--amount",
        "0.5",
    ]);
    let withdrawal_block = latest_block(net);
    net.ok(&[
        "--dev", "0", "deposit", "--chain", "alpha", "--token", "0", "--amount", "0.1",
    ]);

    wait_until("beta held as unreachable", Duration::from_secs(120), || {
        beta(&status(net, withdrawal_block))["held"]["reason"] == "chain_unreachable"
    });
    // The others go on: alpha commits its new block, the primary commits past the
    // withdrawal's block...
    wait_until("alpha committing", Duration::from_secs(120), || {
        net.ledger("alpha", &alpha_contract).commits.len() > alpha_commits
    });
    wait_until("the primary committing", Duration::from_secs(120), || {
        net.ledger("primary", &primary)
            .commits
            .iter()
            .any(|(b, _)| u64::from(*b) >= withdrawal_block)
    });
    // ...and nothing executes the withdrawal's block without beta's sync hash.
    let primary_executed = |net: &Setup| {
        net.ledger("primary", &primary)
            .executes
            .iter()
            .map(|(b, _)| u64::from(*b))
            .max()
            .unwrap_or(0)
    };
    assert!(primary_executed(net) < withdrawal_block);

    // Answering errors, then hanging: still held, still not executed.
    proxy.set(Mode::Error);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        beta(&status(net, withdrawal_block))["held"]["reason"],
        "chain_unreachable"
    );
    proxy.set(Mode::Hang);
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(
        beta(&status(net, withdrawal_block))["held"]["reason"],
        "chain_unreachable"
    );
    assert!(primary_executed(net) < withdrawal_block);

    // beta is back: the hold lifts by itself and the withdrawal is paid on beta.
    proxy.set(Mode::Up);
    wait_until(
        "the withdrawal claimable on beta",
        Duration::from_secs(300),
        || {
            net.ok(&["--dev", "2", "balance", "--json"])
                .contains("\"claimable\":{\"0\":\"0.5\"}")
        },
    );
    assert!(beta(&status(net, withdrawal_block)).get("held").is_none());
    net.ok(&["--dev", "2", "claim", "--chain", "beta", "--token", "0"]);
    walkthrough::assert_settled_once(
        net,
        &[
            ("primary", &primary),
            ("alpha", &alpha_contract),
            ("beta", &beta_contract),
        ],
        16,
    );
    let log = net.log_text();
    assert!(log.contains("settlement held on this chain"), "{log}");
    assert!(log.contains("settlement resumed on this chain"), "{log}");
    assert!(!log.contains("an operator must look"), "{log}");
}
