//! A standalone chain in-process: sled store, miner and server; stopped and restarted on
//! the same directory.

mod common;

use std::time::Duration;

use alloy_primitives::{TxKind, U256};
use common::*;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee_http_client::HttpClientBuilder;
use manyfold_chain_embedded::{start_standalone, BlockTime, StandaloneConfig};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_chain_serves_mines_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StandaloneConfig::new(dir.path(), "127.0.0.1:0".parse().unwrap(), 1337);
    config.block_time = BlockTime::Every(Duration::from_millis(50));
    let running = start_standalone(config.clone()).await.unwrap();
    let client = HttpClientBuilder::default()
        .build(format!("http://{}", running.addr))
        .unwrap();
    let a = running.chain.dev_accounts()[0].clone();
    let to = alloy_primitives::Address::repeat_byte(0x77);
    let raw = eip1559(
        &a,
        1337,
        0,
        TxKind::Call(to),
        U256::from(5u64),
        Default::default(),
        21_000,
    );
    let hash: Value = client
        .request("eth_sendRawTransaction", rpc_params![raw])
        .await
        .unwrap();
    // Mined by the timer.
    let mut receipt = Value::Null;
    for _ in 0..200 {
        receipt = client
            .request("eth_getTransactionReceipt", rpc_params![hash.clone()])
            .await
            .unwrap();
        if !receipt.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(receipt["status"], json!("0x1"));
    drop(client);
    running.stop().await;

    let running = start_standalone(config).await.unwrap();
    let client = HttpClientBuilder::default()
        .build(format!("http://{}", running.addr))
        .unwrap();
    let balance: Value = client
        .request("eth_getBalance", rpc_params![to, "latest"])
        .await
        .unwrap();
    assert_eq!(balance, json!("0x5"));
    let again: Value = client
        .request("eth_getTransactionReceipt", rpc_params![hash])
        .await
        .unwrap();
    assert_eq!(again, receipt);
    running.stop().await;
}
