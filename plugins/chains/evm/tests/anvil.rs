//! `EvmChain` against a real anvil on loopback: reading, errors, the factory.

mod common;

use std::sync::Arc;

use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use common::*;
use manyfold_chain::{
    BlockId, BlockTag, CallRequest, ChainError, ChainFees, ChainReader, ChainRegistry, ChainSender,
    ChainSpec, ConfigError, Finality, LogFilter, TxStatus,
};
use manyfold_chain_evm::{factory, EvmChain, EvmError};
use serde_json::json;

const ETHER: u128 = 1_000_000_000_000_000_000;

#[tokio::test]
async fn reads_heads_blocks_accounts_calls_receipts_and_logs() {
    let anvil = Anvil::start();
    let chain = anvil.chain("basics").await;
    assert_eq!(chain.chain_id().await.unwrap(), CHAIN_ID);
    assert!(chain.is_up());
    assert!(!manyfold_chain::Chain::capabilities(chain.as_ref()).verifies_proofs);

    let a0 = address(KEY0);
    assert_eq!(
        chain.balance(a0, BlockTag::Latest.into()).await.unwrap(),
        U256::from(10_000 * ETHER)
    );
    assert_eq!(chain.nonce(a0, BlockTag::Latest.into()).await.unwrap(), 0);

    let emitter = anvil.deploy(&emitter()).await;
    let reverter = anvil.deploy(&reverter()).await;
    let mut sent = Vec::new();
    for i in 0..3u8 {
        let hash = anvil.send_from(a0, Some(emitter), &[i; 32]).await;
        // anvil may answer before it has mined the transaction; the next one would then
        // share its block. Wait for each, so that each has a block of its own.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while chain.receipt(hash).await.unwrap().is_none() {
            assert!(std::time::Instant::now() < deadline, "{hash} never mined");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        sent.push(hash);
    }
    anvil.mine(2).await;
    // anvil answers `anvil_mine` before every reader sees the new head (rarely, but it
    // happens): wait for it rather than race it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while chain.head(BlockTag::Latest).await.unwrap().number < 7 {
        assert!(
            std::time::Instant::now() < deadline,
            "anvil never showed block 7"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(chain.nonce(a0, BlockTag::Latest.into()).await.unwrap(), 5);
    assert_eq!(
        chain.nonce(a0, BlockId::Number(1)).await.unwrap(),
        1,
        "as of block 1"
    );

    // Heads and the hash chain.
    let latest = chain.head(BlockTag::Latest).await.unwrap();
    assert_eq!(
        latest.number, 7,
        "5 automined transactions and 2 empty blocks"
    );
    let mut child = latest;
    for n in (0..7).rev() {
        let block = chain.block(BlockId::Number(n)).await.unwrap().unwrap();
        assert_eq!(block.number, n);
        assert_eq!(block.hash, child.parent_hash, "block {n}");
        assert!(block.timestamp <= child.timestamp);
        child = block;
    }
    let by_hash = chain.block(BlockId::Hash(latest.hash)).await.unwrap();
    assert_eq!(by_hash, Some(latest));
    assert_eq!(chain.block(BlockId::Number(1_000)).await.unwrap(), None);
    assert_eq!(
        chain
            .block(BlockId::Hash(B256::repeat_byte(7)))
            .await
            .unwrap(),
        None
    );
    for tag in [BlockTag::Safe, BlockTag::Finalized] {
        let head = chain.head(tag).await.unwrap();
        assert!(head.number <= latest.number, "{tag}");
    }
    let final_head = chain
        .final_head(Finality::Blocks(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(final_head.number, 5);

    // Calls: a success, and a revert with its data.
    let out = chain
        .call(
            CallRequest::new(emitter, vec![1u8; 4]),
            BlockTag::Latest.into(),
        )
        .await
        .unwrap();
    assert!(out.is_empty());
    match chain
        .call(
            CallRequest::new(reverter, Bytes::new()),
            BlockTag::Latest.into(),
        )
        .await
    {
        Err(ChainError::Reverted { tx: None, data, .. }) => {
            assert_eq!(data.as_ref(), [0xde, 0xad, 0xbe, 0xef])
        }
        other => panic!("expected a revert, got {other:?}"),
    }
    let err = chain
        .estimate_gas(CallRequest::new(reverter, Bytes::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::Reverted { .. }), "{err}");
    let gas = chain
        .estimate_gas(CallRequest::new(emitter, vec![9u8; 32]))
        .await
        .unwrap();
    assert!((21_000..100_000).contains(&gas), "{gas}");

    // Receipts and statuses.
    let receipt = chain.receipt(sent[1]).await.unwrap().unwrap();
    assert!(receipt.success);
    assert_eq!(receipt.block_number, 4);
    assert_eq!(receipt.logs.len(), 1);
    assert_eq!(receipt.logs[0].data.as_ref(), [1u8; 32]);
    assert!(receipt.effective_gas_price > 0 && receipt.gas_used > 21_000);
    assert_eq!(
        chain.tx_status(sent[1]).await.unwrap(),
        TxStatus::Mined {
            block_number: 4,
            block_hash: receipt.block_hash,
            success: true
        }
    );
    assert_eq!(chain.receipt(B256::repeat_byte(1)).await.unwrap(), None);
    assert_eq!(
        chain.tx_status(B256::repeat_byte(1)).await.unwrap(),
        TxStatus::Unknown
    );

    // Logs, filtered by emitter and topic, in order.
    let logs = chain
        .logs(LogFilter::range(0, 7).address(emitter).topic(0, EMITTED))
        .await
        .unwrap();
    assert_eq!(logs.len(), 3);
    for (i, log) in logs.iter().enumerate() {
        assert_eq!(log.address, emitter);
        assert_eq!(log.topics, vec![EMITTED]);
        assert_eq!(log.data.as_ref(), [i as u8; 32]);
        assert_eq!(log.block_number, 3 + i as u64);
        assert_eq!(log.tx_hash, sent[i]);
        let block = chain
            .block(BlockId::Number(log.block_number))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(log.block_hash, block.hash);
    }
    let none = chain
        .logs(LogFilter::range(0, 7).topic(0, B256::repeat_byte(2)))
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(chain.logs(LogFilter::range(5, 4)).await.unwrap().is_empty());

    // Fees: the next base fee, and a cap above it.
    let fees = chain.estimate_fees().await.unwrap();
    assert!(fees.base_fee_per_gas > 0);
    assert!(fees.max_fee_per_gas >= fees.base_fee_per_gas + fees.max_priority_fee_per_gas);
}

#[tokio::test]
async fn sending_and_the_errors_nodes_answer() {
    let anvil = Anvil::start();
    let chain = anvil.chain("errors").await;
    let s0 = signer(KEY0);
    let to = Address::repeat_byte(0x77);
    let fee = 10 * GWEI;

    let tx = transfer(&s0, 0, to, U256::from(5), fee, GWEI);
    let hash = chain.send_raw(tx.raw.clone()).await.unwrap();
    assert_eq!(hash, tx.hash);
    assert_eq!(hash, keccak256(&tx.raw));
    // anvil answers the send before its automine has sealed the block.
    anvil.receipt(hash).await;
    assert!(matches!(
        chain.tx_status(hash).await.unwrap(),
        TxStatus::Mined { success: true, .. }
    ));

    // The same bytes again, once mined: already known, not an error about the nonce.
    let err = chain.send_raw(tx.raw.clone()).await.unwrap_err();
    assert!(matches!(err, ChainError::AlreadyKnown), "{err:?}");

    // The same nonce again, other bytes: nonce too low.
    let again = transfer(&s0, 0, to, U256::from(6), fee, GWEI);
    let err = chain.send_raw(again.raw).await.unwrap_err();
    assert!(matches!(err, ChainError::NonceTooLow(_)), "{err:?}");
    assert!(err.is_transient());

    // A key with nothing on it.
    let poor = signer("0x0000000000000000000000000000000000000000000000000000000000000abc");
    let err = chain
        .send_raw(transfer(&poor, 0, to, U256::from(1), fee, GWEI).raw)
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::InsufficientFunds(_)), "{err:?}");

    // Pending: the same bytes twice are already known; a replacement needs a higher fee.
    anvil.automine(false).await;
    let pending = transfer(&s0, 1, to, U256::from(7), fee, GWEI);
    chain.send_raw(pending.raw.clone()).await.unwrap();
    assert_eq!(
        chain.tx_status(pending.hash).await.unwrap(),
        TxStatus::Pending
    );
    let err = chain.send_raw(pending.raw.clone()).await.unwrap_err();
    assert!(matches!(err, ChainError::AlreadyKnown), "{err:?}");
    let cheap = transfer(&s0, 1, to, U256::from(8), fee, GWEI);
    let err = chain.send_raw(cheap.raw).await.unwrap_err();
    assert!(matches!(err, ChainError::Underpriced(_)), "{err:?}");
}

#[tokio::test]
async fn the_endpoint_must_serve_the_configured_chain() {
    let anvil = Anvil::start();
    let mut config = anvil.config("wrong");
    config.chain_id = Some(1);
    let err = EvmChain::connect(config).await.unwrap_err();
    assert!(
        matches!(
            err,
            EvmError::WrongChainId {
                expected: 1,
                actual: CHAIN_ID,
                ..
            }
        ),
        "{err}"
    );
    let mut config = anvil.config("any");
    config.chain_id = None;
    EvmChain::connect(config).await.unwrap();
}

fn spec(name: &str, section: serde_json::Value) -> ChainSpec {
    let mut value = json!({"kind": "evm", "id": 1});
    value
        .as_object_mut()
        .unwrap()
        .extend(section.as_object().unwrap().clone());
    ChainSpec::parse(name, &value).unwrap()
}

#[tokio::test]
async fn the_factory_builds_from_config_inside_a_runtime() {
    let anvil = Anvil::start();
    let evm = factory();
    let mut registry = ChainRegistry::new();
    registry
        .register(manyfold_chain_evm::KIND, evm.clone())
        .unwrap();

    let var = "MANYFOLD_EVM_FACTORY_TEST_KEY";
    std::env::set_var(var, KEY1);
    let built = registry
        .build(&spec(
            "l2",
            json!({"url": anvil.url.as_str(), "chain_id": CHAIN_ID, "max_log_range": 10,
                   "request_timeout_ms": 2000, "max_retries": 1, "poll_interval_ms": 100,
                   "signer_key_env": var}),
        ))
        .unwrap();
    assert_eq!(built.chain.chain_id().await.unwrap(), CHAIN_ID);
    let signer = evm.signer("l2").expect("a signer was configured");
    assert_eq!(
        manyfold_sender::TxSigner::address(signer.as_ref()),
        address(KEY1)
    );
    assert_eq!(evm.chain("l2").unwrap().config().max_log_range, 10);

    let err = registry
        .build(&spec(
            "x",
            json!({"url": anvil.url.as_str(), "max_log_rnage": 5}),
        ))
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::UnknownKeys { keys, .. } if keys == &["max_log_rnage"]),
        "{err}"
    );
    let err = registry
        .build(&spec(
            "y",
            json!({"url": anvil.url.as_str(), "chain_id": 5}),
        ))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("chain id 31337") && err.contains("says 5"),
        "{err}"
    );
    let err = registry
        .build(&spec(
            "z",
            json!({"url": anvil.url.as_str(), "signer_key_env": "MANYFOLD_NOPE_UNSET"}),
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("MANYFOLD_NOPE_UNSET"), "{err}");
    let built: Arc<dyn manyfold_chain::Chain> = built.chain;
    assert!(!built.capabilities().verifies_proofs);
}
