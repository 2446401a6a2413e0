//! The durable sender over `EvmChain` and anvil: a stuck transaction is replaced at its
//! nonce and lands once; a sender killed with SIGKILL (after enqueue, after broadcast)
//! resumes in a fresh process and its transaction lands exactly once.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, Bytes, U256};
use common::*;
use manyfold_chain::{BlockTag, Chain, ChainReader};
use manyfold_chain_evm::EvmChain;
use manyfold_sender::{
    Confirmation, DurableSender, NewTx, SenderConfig, SenderEvent, TxId, TxSigner, TxState,
};
use manyfold_storage::{SledStorage, Storage};
use serde_json::json;

const RECIPIENT: Address = Address::repeat_byte(0x5e);
const VALUE: u64 = 123_456_789;
const MARKER: &str = "MANYFOLD-EVM-CHILD-AT-KILL-POINT";

fn sender_config() -> SenderConfig {
    let mut config = SenderConfig::new("l2", CHAIN_ID, address(KEY1), 100 * GWEI, 10 * GWEI);
    config.blocks_before_replacement = 2;
    config.bump_percent = 12;
    config
}

async fn open_sender(storage: Arc<dyn Storage>, chain: Arc<EvmChain>) -> DurableSender {
    let chain: Arc<dyn Chain> = chain;
    DurableSender::open(storage, chain, Arc::new(signer(KEY1)), sender_config())
        .await
        .unwrap()
}

fn payment() -> NewTx {
    NewTx::call("pay", RECIPIENT, Bytes::new())
        .with_value(U256::from(VALUE))
        .with_gas_limit(21_000)
}

async fn nonce(anvil: &Anvil, tag: &str) -> u64 {
    let n = anvil
        .rpc("eth_getTransactionCount", json!([address(KEY1), tag]))
        .await;
    u64::from_str_radix(n.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// Ticks and mines until request 0 is mined; returns the ticks' events.
async fn tick_until_mined(anvil: &Anvil, sender: &mut DurableSender) -> Vec<SenderEvent> {
    let mut events = Vec::new();
    for _ in 0..20 {
        let report = sender.tick().await.unwrap();
        assert!(report.deferred.is_none(), "{:?}", report.deferred);
        events.extend(report.events);
        let state = sender.request(TxId(0)).unwrap().unwrap().tx.state;
        if matches!(state, TxState::Included(_)) {
            return events;
        }
        anvil.mine(1).await;
    }
    panic!("request 0 never mined: {events:?}");
}

async fn assert_landed_once(anvil: &Anvil, chain: &EvmChain) {
    assert_eq!(
        nonce(anvil, "latest").await,
        1,
        "one transaction of the sender mined"
    );
    assert_eq!(nonce(anvil, "pending").await, 1, "and none waiting");
    assert_eq!(
        chain
            .balance(RECIPIENT, BlockTag::Latest.into())
            .await
            .unwrap(),
        U256::from(VALUE),
        "the recipient was paid once"
    );
}

#[tokio::test]
async fn a_stuck_transaction_is_replaced_at_its_nonce_and_lands_once() {
    let anvil = Anvil::start();
    anvil.automine(false).await;
    let chain = anvil.chain("l2").await;
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());
    let mut sender = open_sender(storage, chain.clone()).await;
    sender.enqueue(payment()).unwrap();

    let report = sender.tick().await.unwrap();
    assert!(
        matches!(report.events[..], [SenderEvent::Sent { nonce: 0, .. }]),
        "{report:?}"
    );
    let first = sender.request(TxId(0)).unwrap().unwrap().attempts[0].clone();

    // Blocks go by whose base fee is above what the first attempt pays: it stays pending.
    let stuck_base_fee = first.fees.max_fee_per_gas + 1;
    for _ in 0..2 {
        anvil
            .rpc(
                "anvil_setNextBlockBaseFeePerGas",
                json!([format!("{stuck_base_fee:#x}")]),
            )
            .await;
        anvil.mine(1).await;
        assert_eq!(nonce(&anvil, "latest").await, 0, "stuck");
    }
    let report = sender.tick().await.unwrap();
    let replaced = report.events.iter().find_map(|e| match e {
        SenderEvent::Replaced { nonce: 0, tx, fees } => Some((*tx, *fees)),
        _ => None,
    });
    let (second_hash, second) = replaced.unwrap_or_else(|| panic!("{report:?}"));
    assert_ne!(second_hash, first.hash);
    assert!(second.max_fee_per_gas * 100 >= first.fees.max_fee_per_gas * 110);
    assert!(second.max_priority_fee_per_gas * 100 >= first.fees.max_priority_fee_per_gas * 110);

    let events = tick_until_mined(&anvil, &mut sender).await;
    assert!(
        events.iter().any(|e| matches!(
            e,
            SenderEvent::Confirmed { nonce: 0, tx, confirmation: Confirmation::Mined | Confirmation::Safe | Confirmation::Finalized, .. } if *tx == second_hash
        )),
        "{events:?}"
    );
    assert_landed_once(&anvil, &chain).await;
    assert!(chain.receipt(first.hash).await.unwrap().is_none());
    assert!(chain.receipt(second_hash).await.unwrap().unwrap().success);
}

/// Where the child stops to be killed.
#[derive(Clone, Copy, Debug)]
enum KillPoint {
    /// `enqueue` returned: the request is stored, nothing is signed.
    AfterEnqueue,
    /// A tick sent the transaction; automine is off, so it has no receipt.
    AfterBroadcast,
}

/// The child's side of `sigkill_*`: run only when the parent starts it.
#[tokio::test]
#[ignore = "a helper process of the SIGKILL tests, started by them"]
async fn sigkill_child() {
    let (Ok(url), Ok(dir), Ok(point)) = (
        std::env::var("MANYFOLD_EVM_CHILD_URL"),
        std::env::var("MANYFOLD_EVM_CHILD_DIR"),
        std::env::var("MANYFOLD_EVM_CHILD_POINT"),
    ) else {
        return;
    };
    let mut config = manyfold_chain_evm::EvmConfig::new("l2", url.parse().unwrap());
    config.chain_id = Some(CHAIN_ID);
    let chain = Arc::new(EvmChain::connect(config).await.unwrap());
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(&dir).unwrap());
    let mut sender = open_sender(storage, chain).await;
    assert_eq!(sender.enqueue(payment()).unwrap(), TxId(0));
    if point == "AfterBroadcast" {
        let report = sender.tick().await.unwrap();
        assert!(
            matches!(report.events[..], [SenderEvent::Sent { nonce: 0, .. }]),
            "{report:?}"
        );
    }
    println!("{MARKER}");
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// Runs `sigkill_child` in a new process until it reaches `point`, then SIGKILLs it.
fn run_child_and_kill(anvil: &Anvil, dir: &Path, point: KillPoint) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sigkill_child", "--ignored", "--nocapture"])
        .env("MANYFOLD_EVM_CHILD_URL", anvil.url.as_str())
        .env("MANYFOLD_EVM_CHILD_DIR", dir)
        .env("MANYFOLD_EVM_CHILD_POINT", format!("{point:?}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains(MARKER) {
                let _ = tx.send(());
            }
        }
    });
    let reached = rx.recv_timeout(Duration::from_secs(60));
    // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no goodbye.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        reached.is_ok(),
        "the child never reached {point:?} ({status})"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL");
}

async fn killed_then_resumed(point: KillPoint) {
    let anvil = Anvil::start();
    anvil.automine(false).await;
    let dir = tempfile::tempdir().unwrap();
    run_child_and_kill(&anvil, dir.path(), point);

    let pending_before = nonce(&anvil, "pending").await;
    match point {
        KillPoint::AfterEnqueue => assert_eq!(pending_before, 0, "nothing was sent"),
        KillPoint::AfterBroadcast => assert_eq!(pending_before, 1, "the child's send is pending"),
    }
    assert_eq!(nonce(&anvil, "latest").await, 0);

    let chain = anvil.chain("l2").await;
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());
    let mut sender = open_sender(storage, chain.clone()).await;
    let status = sender.status();
    assert_eq!(status.next_nonce, 1, "the stored request kept nonce 0");
    assert_eq!(status.unfinalized, 1);
    let events = tick_until_mined(&anvil, &mut sender).await;
    let sent = events
        .iter()
        .filter(|e| matches!(e, SenderEvent::Sent { .. }))
        .count();
    match point {
        KillPoint::AfterEnqueue => assert_eq!(sent, 1, "signed after the restart: {events:?}"),
        KillPoint::AfterBroadcast => assert_eq!(sent, 0, "not signed again: {events:?}"),
    }
    // More blocks and ticks change nothing.
    anvil.mine(3).await;
    sender.tick().await.unwrap();
    assert_landed_once(&anvil, &chain).await;
    assert_eq!(sender.status().next_nonce, 1);
}

#[tokio::test]
async fn sigkill_after_enqueue_then_resume_lands_exactly_once() {
    killed_then_resumed(KillPoint::AfterEnqueue).await;
}

#[tokio::test]
async fn sigkill_after_broadcast_then_resume_lands_exactly_once() {
    killed_then_resumed(KillPoint::AfterBroadcast).await;
}

#[test]
fn the_test_signer_is_account_1() {
    assert_eq!(
        signer(KEY1).address(),
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
            .parse::<Address>()
            .unwrap()
    );
}
