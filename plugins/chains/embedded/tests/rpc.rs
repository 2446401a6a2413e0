//! The JSON-RPC server driven by a plain HTTP JSON-RPC client.

mod common;

use std::sync::Arc;

use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use common::*;
use jsonrpsee::core::client::{BatchResponse, ClientT};
use jsonrpsee::core::params::BatchRequestBuilder;
use jsonrpsee::rpc_params;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use manyfold_chain_embedded::{serve, EmbeddedChain, EmbeddedConfig, RpcLimits};
use manyfold_storage::MemoryStorage;
use serde_json::{json, Value};

const CHAIN_ID: u64 = 31_337;

async fn start(limits: RpcLimits) -> (EmbeddedChain, HttpClient, jsonrpsee::server::ServerHandle) {
    let chain = EmbeddedChain::open(
        Arc::new(MemoryStorage::new()),
        EmbeddedConfig::new(CHAIN_ID),
    )
    .unwrap();
    let (addr, handle) = serve(chain.clone(), "127.0.0.1:0".parse().unwrap(), limits)
        .await
        .unwrap();
    assert!(addr.ip().is_loopback());
    let client = HttpClientBuilder::default()
        .build(format!("http://{addr}"))
        .unwrap();
    (chain, client, handle)
}

async fn rpc(
    client: &HttpClient,
    method: &str,
    params: jsonrpsee::core::params::ArrayParams,
) -> Value {
    client
        .request::<Value, _>(method, params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

fn error_of(e: jsonrpsee::core::ClientError) -> (i32, String, Option<String>) {
    match e {
        jsonrpsee::core::ClientError::Call(obj) => (
            obj.code(),
            obj.message().to_owned(),
            obj.data().map(|d| d.get().to_owned()),
        ),
        other => panic!("not a call error: {other}"),
    }
}

#[tokio::test]
async fn ethereum_json_rpc() {
    let (chain, client, _server) = start(RpcLimits::default()).await;
    let a = chain.dev_accounts()[0].clone();

    assert_eq!(
        rpc(&client, "eth_chainId", rpc_params![]).await,
        json!("0x7a69")
    );
    assert_eq!(
        rpc(&client, "net_version", rpc_params![]).await,
        json!("31337")
    );
    assert_eq!(
        rpc(&client, "eth_blockNumber", rpc_params![]).await,
        json!("0x0")
    );
    assert_eq!(
        rpc(&client, "eth_getBalance", rpc_params![a.address, "latest"]).await,
        json!("0x21e19e0c9bab2400000")
    );
    assert!(rpc(&client, "web3_clientVersion", rpc_params![])
        .await
        .as_str()
        .unwrap()
        .starts_with("manyfold"));

    // Deploy, then set 42: a log.
    let deploy: B256 = client
        .request(
            "eth_sendRawTransaction",
            rpc_params![eip1559(
                &a,
                CHAIN_ID,
                0,
                TxKind::Create,
                U256::ZERO,
                contract_init(),
                200_000
            )],
        )
        .await
        .unwrap();
    let receipt = rpc(&client, "eth_getTransactionReceipt", rpc_params![deploy]).await;
    assert_eq!(receipt["status"], json!("0x1"));
    assert_eq!(receipt["type"], json!("0x2"));
    let contract: Address = serde_json::from_value(receipt["contractAddress"].clone()).unwrap();
    assert_eq!(
        rpc(&client, "eth_getCode", rpc_params![contract, "latest"]).await,
        json!(Bytes::from(contract_runtime()))
    );
    let set: B256 = client
        .request(
            "eth_sendRawTransaction",
            rpc_params![eip1559(
                &a,
                CHAIN_ID,
                1,
                TxKind::Call(contract),
                U256::ZERO,
                word(42),
                100_000
            )],
        )
        .await
        .unwrap();
    let logs = rpc(
        &client,
        "eth_getLogs",
        rpc_params![json!({"fromBlock": "earliest", "toBlock": "latest", "address": contract, "topics": [set_topic()]})],
    )
    .await;
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["transactionHash"], json!(set));
    assert_eq!(logs[0]["blockNumber"], json!("0x2"));
    assert_eq!(logs[0]["logIndex"], json!("0x0"));
    assert_eq!(logs[0]["data"], json!(word(42)));
    assert_eq!(logs[0]["removed"], json!(false));
    let none = rpc(
        &client,
        "eth_getLogs",
        rpc_params![json!({"fromBlock": "0x0", "toBlock": "0x1"})],
    )
    .await;
    assert_eq!(none, json!([]));

    assert_eq!(
        rpc(
            &client,
            "eth_getStorageAt",
            rpc_params![contract, "0x0", "latest"]
        )
        .await,
        json!(B256::from(U256::from(42u64)))
    );
    assert_eq!(
        rpc(
            &client,
            "eth_getTransactionCount",
            rpc_params![a.address, "latest"]
        )
        .await,
        json!("0x2")
    );
    assert_eq!(
        rpc(
            &client,
            "eth_getTransactionCount",
            rpc_params![a.address, "pending"]
        )
        .await,
        json!("0x2")
    );
    assert_eq!(
        rpc(
            &client,
            "eth_call",
            rpc_params![json!({"to": contract}), "latest"]
        )
        .await,
        json!(word(42))
    );
    let gas = rpc(
        &client,
        "eth_estimateGas",
        rpc_params![json!({"from": a.address, "to": contract, "data": word(9)})],
    )
    .await;
    assert!(
        u64::from_str_radix(gas.as_str().unwrap().trim_start_matches("0x"), 16).unwrap() > 21_000
    );

    // A revert: code 3 with the revert data.
    let err = client
        .request::<Value, _>(
            "eth_call",
            rpc_params![json!({"to": contract, "input": word(0)})],
        )
        .await
        .unwrap_err();
    let (code, message, data) = error_of(err);
    assert_eq!((code, message.as_str()), (3, "execution reverted"));
    assert_eq!(data.as_deref(), Some("\"0xdeadbeef\""));

    // Refusals carry the messages clients match on.
    let raw = eip1559(
        &a,
        CHAIN_ID,
        1,
        TxKind::Call(contract),
        U256::ZERO,
        word(42),
        100_000,
    );
    let (_, message, _) = error_of(
        client
            .request::<Value, _>("eth_sendRawTransaction", rpc_params![raw])
            .await
            .unwrap_err(),
    );
    assert_eq!(message, "already known");
    let raw = eip1559(
        &a,
        CHAIN_ID,
        0,
        TxKind::Call(contract),
        U256::ZERO,
        word(1),
        100_000,
    );
    let (code, message, _) = error_of(
        client
            .request::<Value, _>("eth_sendRawTransaction", rpc_params![raw])
            .await
            .unwrap_err(),
    );
    assert_eq!(code, -32000);
    assert!(message.starts_with("nonce too low"), "{message}");
    let (code, _, _) = error_of(
        client
            .request::<Value, _>("eth_getBalance", rpc_params!["0x12"])
            .await
            .unwrap_err(),
    );
    assert_eq!(code, -32602);

    // Blocks, by number and hash, with hashes or full transactions.
    let block = rpc(
        &client,
        "eth_getBlockByNumber",
        rpc_params!["latest", false],
    )
    .await;
    assert_eq!(block["number"], json!("0x2"));
    assert_eq!(block["transactions"], json!([set]));
    assert!(block["baseFeePerGas"].is_string());
    let by_hash = rpc(
        &client,
        "eth_getBlockByHash",
        rpc_params![block["hash"].clone(), true],
    )
    .await;
    assert_eq!(by_hash["transactions"][0]["hash"], json!(set));
    assert_eq!(by_hash["transactions"][0]["from"], json!(a.address));
    assert_eq!(
        rpc(
            &client,
            "eth_getBlockByNumber",
            rpc_params!["finalized", false]
        )
        .await["hash"],
        block["hash"]
    );
    assert_eq!(
        rpc(
            &client,
            "eth_getBlockByNumber",
            rpc_params!["earliest", false]
        )
        .await["number"],
        json!("0x0")
    );
    assert_eq!(
        rpc(&client, "eth_getBlockByNumber", rpc_params!["0x63", false]).await,
        Value::Null
    );
    let tx = rpc(&client, "eth_getTransactionByHash", rpc_params![set]).await;
    assert_eq!(tx["blockNumber"], json!("0x2"));
    assert_eq!(tx["nonce"], json!("0x1"));
    assert_eq!(
        rpc(&client, "eth_getTransactionByHash", rpc_params![B256::ZERO]).await,
        Value::Null
    );

    // Fees.
    let history = rpc(
        &client,
        "eth_feeHistory",
        rpc_params!["0x2", "latest", [25.0, 75.0]],
    )
    .await;
    assert_eq!(history["oldestBlock"], json!("0x1"));
    assert_eq!(history["baseFeePerGas"].as_array().unwrap().len(), 3);
    assert_eq!(history["gasUsedRatio"].as_array().unwrap().len(), 2);
    assert_eq!(history["reward"].as_array().unwrap().len(), 2);
    assert!(rpc(&client, "eth_gasPrice", rpc_params![])
        .await
        .is_string());
    assert_eq!(
        rpc(&client, "eth_maxPriorityFeePerGas", rpc_params![]).await,
        json!("0x3b9aca00")
    );

    // History is refused with a clear message.
    let (_, message, _) = error_of(
        client
            .request::<Value, _>("eth_getBalance", rpc_params![a.address, "0x1"])
            .await
            .unwrap_err(),
    );
    assert!(message.contains("latest state only"), "{message}");
}

#[tokio::test]
async fn batches_and_bodies_are_bounded() {
    let (_chain, client, _server) = start(RpcLimits {
        max_batch_len: 2,
        max_request_body_size: 1024,
        ..RpcLimits::default()
    })
    .await;
    let mut batch = BatchRequestBuilder::new();
    batch.insert("eth_chainId", rpc_params![]).unwrap();
    batch.insert("eth_blockNumber", rpc_params![]).unwrap();
    let ok: BatchResponse<'_, Value> = client.batch_request(batch).await.unwrap();
    assert_eq!(ok.num_successful_calls(), 2);
    let mut batch = BatchRequestBuilder::new();
    for _ in 0..3 {
        batch.insert("eth_chainId", rpc_params![]).unwrap();
    }
    assert!(
        client.batch_request::<Value>(batch).await.is_err(),
        "a batch of 3 over a limit of 2"
    );
    let big = Bytes::from(vec![0u8; 2048]);
    assert!(client
        .request::<Value, _>("eth_sendRawTransaction", rpc_params![big])
        .await
        .is_err());
}
