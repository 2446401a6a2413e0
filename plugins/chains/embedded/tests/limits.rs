//! What anyone reaching the chain may not do: the bounds on the pool, on admission and on
//! the RPC's costly reads, each with a clear error that changes nothing (DESIGN §8.5, §9).

mod common;

use std::sync::Arc;
use std::time::Duration;

use alloy_consensus::{TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_eips::BlockNumberOrTag;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_rpc_types_eth::Filter;
use common::*;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee_http_client::HttpClientBuilder;
use manyfold_chain::{BlockId, BlockTag, ChainRegistry, ChainSpec, TxStatus};
use manyfold_chain_embedded::{
    factory, serve, BlockTime, Call, DevAccount, EmbeddedChain, EmbeddedConfig, RpcLimits,
};
use manyfold_storage::{MemoryStorage, Storage};
use serde_json::Value;

const CHAIN_ID: u64 = 4242;

fn open(config: EmbeddedConfig) -> EmbeddedChain {
    EmbeddedChain::open(Arc::new(MemoryStorage::new()), config).unwrap()
}

fn timed() -> EmbeddedConfig {
    EmbeddedConfig::new(CHAIN_ID).with_block_time(BlockTime::Every(Duration::from_secs(3600)))
}

fn transfer(from: &DevAccount, nonce: u64, value: U256) -> Bytes {
    eip1559(
        from,
        CHAIN_ID,
        nonce,
        TxKind::Call(Address::repeat_byte(0x42)),
        value,
        Bytes::new(),
        21_000,
    )
}

fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

#[test]
fn fee_history_refuses_too_many_or_unordered_percentiles() {
    let chain = open(EmbeddedConfig::new(CHAIN_ID));
    let latest = BlockNumberOrTag::Latest;
    // 101 percentiles × up to 1024 blocks of rewards: refused before anything is built.
    let err = chain
        .fee_history(1, latest, Some(&vec![50.0; 101]))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("101 reward percentiles, at most 100"),
        "{err}"
    );
    for bad in [
        vec![10.0, 5.0],
        vec![50.0, 50.0],
        vec![-1.0],
        vec![100.5],
        vec![f64::NAN],
    ] {
        let err = chain.fee_history(1, latest, Some(&bad)).unwrap_err();
        assert!(
            err.to_string().contains("invalid reward percentile"),
            "{bad:?}: {err}"
        );
    }
    let fine: Vec<f64> = (0..100).map(f64::from).collect();
    let history = chain.fee_history(5000, latest, Some(&fine)).unwrap();
    assert_eq!(history.reward.unwrap(), vec![vec![0u128; 100]; 1]);
}

#[test]
fn a_full_pool_of_gapped_transactions_does_not_lock_others_out() {
    let mut config = timed();
    config.pool_capacity = 2;
    let chain = open(config);
    let (a, b) = (
        chain.dev_accounts()[0].clone(),
        chain.dev_accounts()[1].clone(),
    );
    let gapped = [
        chain.send_raw(&transfer(&a, 5, U256::from(1u64))).unwrap(),
        chain.send_raw(&transfer(&a, 6, U256::from(1u64))).unwrap(),
    ];
    chain.mine().unwrap();
    assert_eq!(chain.pool_len(), 2, "gapped: no block takes them");
    let sent = chain.send_raw(&transfer(&b, 0, U256::from(1u64))).unwrap();
    assert_eq!(chain.tx_status(sent).unwrap(), TxStatus::Pending);
    assert_eq!(
        gapped.map(|h| chain.tx_status(h).unwrap()),
        [TxStatus::Pending, TxStatus::Dropped],
        "the worst-priced gapped one (the later nonce, at equal fees) was evicted"
    );
    chain.mine().unwrap();
    assert!(matches!(
        chain.tx_status(sent).unwrap(),
        TxStatus::Mined { success: true, .. }
    ));
}

#[test]
fn one_sender_cannot_fill_the_pool_or_park_far_ahead() {
    let mut config = timed();
    config.max_txs_per_sender = 3;
    config.max_nonce_ahead = 4;
    let chain = open(config);
    let a = chain.dev_accounts()[0].clone();
    let err = chain
        .send_raw(&transfer(&a, 4, U256::from(1u64)))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("nonce too high: next nonce 0, tx nonce 4"),
        "{err}"
    );
    for nonce in 0..3 {
        chain
            .send_raw(&transfer(&a, nonce, U256::from(1u64)))
            .unwrap();
    }
    let err = chain
        .send_raw(&transfer(&a, 3, U256::from(1u64)))
        .unwrap_err();
    assert!(err.to_string().contains("already has 3 pending"), "{err}");
    assert_eq!(chain.pool_len(), 3);
    chain.mine().unwrap();
    // Mined: room again, and the reach moves with the account nonce.
    chain.send_raw(&transfer(&a, 6, U256::from(1u64))).unwrap();
}

#[test]
fn oversized_and_unprotected_transactions_are_refused() {
    let chain = open(EmbeddedConfig::new(CHAIN_ID));
    let a = chain.dev_accounts()[0].clone();
    // 128 KiB and a byte of calldata: over the default size limit, whatever its gas.
    let big = eip1559(
        &a,
        CHAIN_ID,
        0,
        TxKind::Call(Address::repeat_byte(1)),
        U256::ZERO,
        vec![0u8; 128 * 1024 + 1].into(),
        30_000_000,
    );
    let err = chain.send_raw(&big).unwrap_err();
    assert!(err.to_string().contains("oversized data"), "{err}");

    let unprotected = |nonce| -> Bytes {
        let tx = TxLegacy {
            chain_id: None,
            nonce,
            gas_price: 5 * GWEI,
            gas_limit: 21_000,
            to: TxKind::Call(Address::repeat_byte(1)),
            value: U256::from(1u64),
            input: Bytes::new(),
        };
        TxEnvelope::from(a.sign(tx)).encoded_2718().into()
    };
    let err = chain.send_raw(&unprotected(0)).unwrap_err();
    assert!(
        err.to_string().contains("only replay-protected (EIP-155)"),
        "{err}"
    );
    assert_eq!(chain.head().number, 0, "nothing refused was mined");

    let mut config = EmbeddedConfig::new(CHAIN_ID);
    config.allow_unprotected_txs = true;
    let permissive = open(config);
    let hash = permissive.send_raw(&unprotected(0)).unwrap();
    assert!(matches!(
        permissive.tx_status(hash).unwrap(),
        TxStatus::Mined { success: true, .. }
    ));
}

#[test]
fn instant_mode_keeps_a_gapped_transaction_across_a_restart() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let config = EmbeddedConfig::new(CHAIN_ID);
    let chain = EmbeddedChain::open(storage.clone(), config.clone()).unwrap();
    let a = chain.dev_accounts()[0].clone();
    let gapped = chain.send_raw(&transfer(&a, 1, U256::from(1u64))).unwrap();
    assert_eq!(chain.tx_status(gapped).unwrap(), TxStatus::Pending);
    drop(chain);
    let chain = EmbeddedChain::open(storage, config).unwrap();
    assert_eq!(chain.tx_status(gapped).unwrap(), TxStatus::Pending);
    chain.send_raw(&transfer(&a, 0, U256::from(1u64))).unwrap();
    assert!(matches!(
        chain.tx_status(gapped).unwrap(),
        TxStatus::Mined { success: true, .. }
    ));
}

#[test]
fn a_dropped_transaction_sent_again_and_mined_is_not_reported_dropped() {
    let chain = open(EmbeddedConfig::new(CHAIN_ID));
    let (a, b) = (
        chain.dev_accounts()[0].clone(),
        chain.dev_accounts()[1].clone(),
    );
    let latest = BlockId::Tag(BlockTag::Latest);
    // Nonce 1 waits behind a gap; nonce 0 then spends nearly everything, so nonce 1 fails
    // in the same block and is dropped.
    let later = transfer(&a, 1, eth(1));
    let hash = chain.send_raw(&later).unwrap();
    let balance = chain.balance(a.address, latest).unwrap();
    let reserve = U256::from(2 * 21_000 * 10 * GWEI);
    chain.send_raw(&transfer(&a, 0, balance - reserve)).unwrap();
    assert_eq!(chain.tx_status(hash).unwrap(), TxStatus::Dropped);
    // Funded again, the same bytes are accepted and mined: a success, not "dropped".
    chain
        .send_raw(&eip1559(
            &b,
            CHAIN_ID,
            0,
            TxKind::Call(a.address),
            eth(10),
            Bytes::new(),
            21_000,
        ))
        .unwrap();
    assert_eq!(chain.send_raw(&later).unwrap(), hash);
    assert!(matches!(
        chain.tx_status(hash).unwrap(),
        TxStatus::Mined { success: true, .. }
    ));
}

/// Deploys the test contract and calls `set` `n` times: `n` blocks with one log each.
fn chain_with_logs(config: EmbeddedConfig, n: u64) -> (EmbeddedChain, Address) {
    let chain = open(config);
    let a = chain.dev_accounts()[0].clone();
    let deploy = chain
        .send_raw(&eip1559(
            &a,
            CHAIN_ID,
            0,
            TxKind::Create,
            U256::ZERO,
            contract_init(),
            200_000,
        ))
        .unwrap();
    let contract = chain
        .receipt(deploy)
        .unwrap()
        .unwrap()
        .contract_address
        .unwrap();
    for i in 1..=n {
        chain
            .send_raw(&eip1559(
                &a,
                CHAIN_ID,
                i,
                TxKind::Call(contract),
                U256::ZERO,
                word(i),
                100_000,
            ))
            .unwrap();
    }
    (chain, contract)
}

#[test]
fn get_logs_is_bounded_in_blocks_and_results() {
    let mut config = EmbeddedConfig::new(CHAIN_ID);
    config.max_logs_block_range = 3;
    config.max_logs_results = 2;
    let (chain, _) = chain_with_logs(config, 3);
    assert_eq!(chain.head().number, 4);
    let range = |from: u64, to: u64| Filter::new().from_block(from).to_block(to);
    let err = chain.rpc_logs(&range(1, 4)).unwrap_err();
    assert!(
        err.to_string().contains("query exceeds max block range 3"),
        "{err}"
    );
    // Past the head counts only up to the head.
    assert_eq!(chain.rpc_logs(&range(3, 1_000_000)).unwrap().len(), 2);
    // Blocks 2 to 4 hold one log each (block 1 is the deployment).
    let err = chain.rpc_logs(&range(2, 4)).unwrap_err();
    assert!(
        err.to_string()
            .contains("query returned more than 2 results"),
        "{err}"
    );
    assert_eq!(chain.rpc_logs(&range(1, 2)).unwrap().len(), 1);
}

#[test]
fn calls_and_estimates_run_under_the_gas_cap() {
    let mut config = EmbeddedConfig::new(CHAIN_ID);
    config.rpc_gas_cap = 60_000;
    let (chain, contract) = chain_with_logs(config, 0);
    let create = Call {
        input: contract_init(),
        ..Call::default()
    };
    // Deploying needs more than 60,000 gas: even asked for more, a call gets the cap.
    let err = chain.estimate_gas(&create).unwrap_err();
    assert!(err.to_string().contains("out of gas"), "{err}");
    let latest = BlockId::Tag(BlockTag::Latest);
    let err = chain
        .call(
            &Call {
                gas: Some(10_000_000),
                ..create
            },
            latest,
        )
        .unwrap_err();
    assert!(err.to_string().contains("out of gas"), "{err}");
    // A cheap call still estimates.
    let set = Call {
        to: Some(contract),
        input: word(7),
        ..Call::default()
    };
    let gas = chain.estimate_gas(&set).unwrap();
    assert!(gas > 21_000 && gas < 60_000, "{gas}");
}

#[tokio::test]
async fn over_rpc_the_bounds_are_clear_errors() {
    let mut config = EmbeddedConfig::new(CHAIN_ID);
    config.max_logs_block_range = 2;
    let (chain, _) = chain_with_logs(config, 3);
    let (addr, handle) = serve(chain, "127.0.0.1:0".parse().unwrap(), RpcLimits::default())
        .await
        .unwrap();
    let client = HttpClientBuilder::default()
        .build(format!("http://{addr}"))
        .unwrap();
    let error_of = |e: jsonrpsee::core::ClientError| match e {
        jsonrpsee::core::ClientError::Call(obj) => (obj.code(), obj.message().to_owned()),
        other => panic!("not a call error: {other}"),
    };
    let err = client
        .request::<Value, _>(
            "eth_feeHistory",
            rpc_params!["0x1", "latest", vec![50.0; 101]],
        )
        .await
        .unwrap_err();
    let (code, message) = error_of(err);
    assert_eq!(code, -32602, "{message}");
    assert!(message.contains("101 reward percentiles"), "{message}");
    let ok: Value = client
        .request("eth_feeHistory", rpc_params!["0x2", "latest", [25.0, 75.0]])
        .await
        .unwrap();
    assert_eq!(ok["reward"].as_array().unwrap().len(), 2);

    let err = client
        .request::<Value, _>(
            "eth_getLogs",
            rpc_params![serde_json::json!({"fromBlock": "0x0", "toBlock": "latest"})],
        )
        .await
        .unwrap_err();
    let (code, message) = error_of(err);
    assert_eq!(
        (code, message.as_str()),
        (-32000, "query exceeds max block range 2")
    );
    handle.stop().unwrap();
}

#[test]
fn the_factory_refuses_a_finality_of_blocks() {
    let mut registry = ChainRegistry::new();
    registry
        .register(
            "embedded",
            factory(
                |_: &str| Arc::new(MemoryStorage::new()) as Arc<dyn Storage>,
                None,
            ),
        )
        .unwrap();
    let spec = |finality: Value| {
        ChainSpec::parse(
            "hub",
            &serde_json::json!({"kind": "embedded", "id": 0, "finality": finality}),
        )
        .unwrap()
    };
    let err = registry
        .build(&spec(serde_json::json!(3)))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("chains.hub.finality: ") && err.contains("use \"finalized\""),
        "{err}"
    );
    for fine in [
        serde_json::json!("finalized"),
        serde_json::json!("safe"),
        serde_json::json!(0),
    ] {
        registry.build(&spec(fine)).unwrap();
    }
}
