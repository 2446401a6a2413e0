//! Settlement under faults (DESIGN §8, §9), played against the running node and real
//! chains: the mixed setup (the node with its embedded primary, two anvil secondaries),
//! beta reached through a proxy the test switches off and on.

mod walkthrough;

use std::time::Duration;

use manyfold_chain_conformance::anvil::Anvil;
use manyfold_contracts::bindings::Secondary;
use manyfold_contracts::settlement::{SecondaryBookkeeping, SettlementBlock, StoredBlock};
use manyfold_types::field::fr_from_be_bytes;
use manyfold_types::pubdata::{OpPubdata, PUBDATA_BYTES};
use manyfold_types::{AccountId, Amount, ChainId, Fr, TokenId};
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

fn quantity(value: &Value) -> u64 {
    u64::from_str_radix(value.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn latest_block(net: &Setup) -> u64 {
    let status = net.rpc("manyfold_getSettlementStatus", vec!["latest".into()]);
    quantity(&status["number"])
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
    let withdrawal = net
        .ok(&[
            "--dev", "2", "withdraw", "--chain", "beta", "--to", DEV2, "--token", "0", "--amount",
            "0.5",
        ])
        .trim()
        .to_owned();
    let tx_status = || {
        net.rpc(
            "manyfold_getTransactionStatus",
            vec![withdrawal.clone().into()],
        )
    };
    wait_until("the withdrawal in a block", Duration::from_secs(60), || {
        !tx_status().is_null()
    });
    let withdrawal_block = quantity(&tx_status()["settlement"]["number"]);
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

/// Calls `method` on an anvil with the pinned `cast`.
fn anvil_rpc(url: &str, method: &str, params: &[&str]) {
    let cast = manyfold_chain_conformance::anvil::pinned_tool("MANYFOLD_CAST", "cast");
    let output = std::process::Command::new(cast)
        .args(["rpc", "--rpc-url", url, method])
        .args(params)
        .output()
        .unwrap();
    assert!(output.status.success(), "{method}: {output:?}");
}

/// alpha's `PriorityRequestAdded` events owned by `owner`, as the chain has them now.
fn requests_of(net: &Setup, contract: &str, owner: &str) -> usize {
    let cast = manyfold_chain_conformance::anvil::pinned_tool("MANYFOLD_CAST", "cast");
    let output = std::process::Command::new(cast)
        .args(["logs", "--json", "--from-block", "0", "--address", contract])
        .arg("PriorityRequestAdded(uint64 indexed,uint8,address indexed,uint16,uint128,uint32,uint64)")
        .args(["--rpc-url", net.url("alpha")])
        .output()
        .unwrap();
    let logs: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let topic = format!("0x{:0>64}", owner.trim_start_matches("0x").to_lowercase());
    logs.iter()
        .filter(|l| l["topics"][2] == topic.as_str())
        .count()
}

/// alpha counts a block final 3 blocks deep. A deposit reorged out before that is never
/// credited. One reorged out after it was credited breaks the finality rule itself: the
/// node does not guess, its watcher stops loudly when the chain then hands out another
/// request under the same serial id, and alpha's pipeline holds instead of committing a
/// block the contract would refuse.
#[test]
fn a_deposit_reorged_before_finality_is_never_credited_and_one_after_stops_the_watcher() {
    let setup = walkthrough::mixed::on_anvils(&[("MANYFOLD_CHAINS__ALPHA__FINALITY", "3")]);
    let (mixed, alpha) = (&setup.mixed, &setup.alpha);
    let net = &mixed.setup;
    let contract = mixed.settlement("alpha");
    let (dev4, dev5) = (
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        "0x9965507D1a55bcC2695C58ba16FB37d11B615cC8",
    );
    let l2 = |dev: &str| net.ok(&["--dev", dev, "balance", "--json"]);

    // Mined, not final: reorged out with two empty blocks in place of its own and the
    // next, then the chain moves well past the finality depth.
    net.ok(&[
        "--dev",
        "4",
        "deposit",
        "--chain",
        "alpha",
        "--token",
        "0",
        "--amount",
        "0.3",
        "--no-wait",
    ]);
    assert_eq!(requests_of(net, &contract, dev4), 1);
    anvil_rpc(&alpha.url, "anvil_mine", &["1"]);
    anvil_rpc(&alpha.url, "anvil_reorg", &["2", "[]"]);
    assert_eq!(requests_of(net, &contract, dev4), 0, "anvil dropped it");
    anvil_rpc(&alpha.url, "anvil_mine", &["6"]);
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !l2("4").contains("\"0\":\"0.3\""),
        "a deposit reorged out before finality is never credited: {}",
        l2("4")
    );

    // Final, then credited; then reorged away deeper than the rule.
    net.ok(&[
        "--dev",
        "5",
        "deposit",
        "--chain",
        "alpha",
        "--token",
        "0",
        "--amount",
        "0.2",
        "--no-wait",
    ]);
    anvil_rpc(&alpha.url, "anvil_mine", &["4"]);
    wait_until(
        "dev5's deposit credited once final",
        Duration::from_secs(60),
        || l2("5").contains("\"0\":\"0.2\""),
    );
    anvil_rpc(&alpha.url, "anvil_reorg", &["8", "[]"]);
    assert_eq!(requests_of(net, &contract, dev5), 0);
    // The chain gives the same serial id to another deposit: the watcher stops on it.
    net.ok(&[
        "--dev",
        "4",
        "deposit",
        "--chain",
        "alpha",
        "--token",
        "0",
        "--amount",
        "0.1",
        "--no-wait",
    ]);
    anvil_rpc(&alpha.url, "anvil_mine", &["4"]);
    wait_until("the watcher's stop", Duration::from_secs(60), || {
        net.log_text().contains("priority watcher stopped")
    });
    let log = net.log_text();
    assert!(log.contains("changed after it was handed out"), "{log}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !l2("4").contains("\"0\":\"0.1\""),
        "nothing is credited from a chain whose finality broke"
    );
}

/// The `StoredBlock` alpha's contract holds after its newest `commitCompressedBlocks`,
/// recomputed from that transaction's calldata, as anyone can.
fn newest_stored_on(net: &Setup, chain_id: u16, contract: &str) -> StoredBlock {
    use alloy_sol_types::SolCall;
    let name = if chain_id == 1 { "alpha" } else { "beta" };
    let (_, tx) = net.ledger(name, contract).commits.last().cloned().unwrap();
    let cast = manyfold_chain_conformance::anvil::pinned_tool("MANYFOLD_CAST", "cast");
    let output = std::process::Command::new(cast)
        .args(["tx", &tx, "input", "--rpc-url", net.url(name)])
        .output()
        .unwrap();
    let input = String::from_utf8(output.stdout).unwrap();
    let input = alloy_primitives::hex::decode(input.trim()).unwrap();
    let call = Secondary::commitCompressedBlocksCall::abi_decode(&input).unwrap();
    let l = call.last;
    let mut books = SecondaryBookkeeping::resume(
        ChainId::new(chain_id).unwrap(),
        StoredBlock {
            block_number: l.blockNumber,
            block_sequence: l.blockSequence,
            priority_operations: l.priorityOperations,
            timestamp: l.timestamp,
            state_root: l.stateRoot,
            ops_hash: l.opsHash,
            sync_hash: l.syncHash,
            commitment: l.commitment,
        },
    );
    for block in &call.blocks {
        let ops: Vec<OpPubdata> = block
            .pubdata
            .chunks(PUBDATA_BYTES)
            .map(|r| OpPubdata::decode(r).unwrap())
            .collect();
        books
            .commit(&SettlementBlock {
                number: block.blockNumber,
                timestamp: block.timestamp,
                state_root: fr_from_be_bytes(&block.newStateRoot.0).unwrap(),
                ops: &ops,
                change_pubkey_signatures: &[],
            })
            .unwrap();
    }
    books.last()
}

/// A lying secondary: the operator's key commits a block to alpha out of band, with ops
/// the primary never saw. The node finds the contract holding a block it did not ask for,
/// holds alpha (`sync_hash_mismatch`, over RPC); the committee signs nothing of it, so the
/// primary never confirms a block that touches alpha after it and no chain executes one.
#[test]
fn a_block_committed_out_of_band_never_confirms_and_the_node_holds() {
    let setup = walkthrough::mixed::on_anvils(&[]);
    let (mixed, alpha) = (&setup.mixed, &setup.alpha);
    let net = &mixed.setup;
    let [primary, alpha_contract, beta_contract] =
        ["primary", "alpha", "beta"].map(|n| mixed.settlement(n));
    net.ok(&[
        "--dev", "0", "deposit", "--chain", "alpha", "--token", "0", "--amount", "1",
    ]);
    wait_until("alpha settled", Duration::from_secs(300), || {
        !net.ledger("alpha", &alpha_contract).executes.is_empty()
    });

    // The lie: a withdrawal of 1 ETH to the operator that no L2 block holds.
    let last = newest_stored_on(net, 1, &alpha_contract);
    let lie_number = last.block_number + 1_000;
    let ops = [OpPubdata::Withdraw {
        chain: ChainId::new(1).unwrap(),
        account: AccountId::new(0).unwrap(),
        token: TokenId::new(0).unwrap(),
        amount: Amount(10u128.pow(18)),
        address: "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
            .parse()
            .unwrap(),
    }];
    let mut books = SecondaryBookkeeping::resume(ChainId::new(1).unwrap(), last);
    let lie = books
        .commit(&SettlementBlock {
            number: lie_number,
            timestamp: last.timestamp + 1,
            state_root: Fr::from(7u64),
            ops: &ops,
            change_pubkey_signatures: &[],
        })
        .unwrap()
        .unwrap();
    let calldata = {
        use alloy_sol_types::SolCall;
        Secondary::commitCompressedBlocksCall {
            last: lie.previous.into(),
            blocks: vec![lie.block],
        }
        .abi_encode()
    };
    let cast = manyfold_chain_conformance::anvil::pinned_tool("MANYFOLD_CAST", "cast");
    let sent = std::process::Command::new(cast)
        .args(["send", "--private-key", walkthrough::mixed::OPERATOR_KEY])
        .args(["--rpc-url", &alpha.url, &alpha_contract])
        .arg(format!("0x{}", alloy_primitives::hex::encode(&calldata)))
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "the out-of-band commit lands: {sent:?}"
    );

    // The node holds alpha and says why.
    let alpha_held = || {
        let status = net.rpc("manyfold_getSettlementStatus", vec!["latest".into()]);
        status["chains"][1]["held"].clone()
    };
    net.ok(&[
        "--dev", "0", "deposit", "--chain", "alpha", "--token", "0", "--amount", "0.1",
    ]);
    let after = latest_block(net);
    wait_until("alpha held as a mismatch", Duration::from_secs(120), || {
        alpha_held()["reason"] == "sync_hash_mismatch"
    });
    assert!(alpha_held()["detail"]
        .as_str()
        .unwrap()
        .contains("out of band"));

    // Nothing touching alpha after the lie confirms or executes anywhere.
    std::thread::sleep(Duration::from_secs(15));
    let ledger = net.ledger("primary", &primary);
    assert!(
        ledger.executes.iter().all(|(b, _)| u64::from(*b) < after),
        "the primary executes nothing from the first block alpha must agree on: {:?}",
        ledger.executes
    );
    let alpha_ledger = net.ledger("alpha", &alpha_contract);
    assert!(alpha_ledger
        .confirmations
        .iter()
        .all(|(b, _)| *b < lie_number && u64::from(*b) < after));
    assert!(alpha_ledger.executes.iter().all(|(b, _)| *b != lie_number));
    let beta_ledger = net.ledger("beta", &beta_contract);
    assert!(beta_ledger
        .executes
        .iter()
        .all(|(b, _)| u64::from(*b) < after));
    assert_eq!(alpha_held()["reason"], "sync_hash_mismatch", "still held");
}
