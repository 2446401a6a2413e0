//! The engine on a real sled store: blocks, receipts, state and logs survive a reopen;
//! pool rules and the Chain interface.

mod common;

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{address, Address, Bytes, TxKind, U256};
use common::*;
use manyfold_chain::{
    BlockId, BlockTag, CallRequest, Chain, ChainError, ChainRegistry, ChainSpec, LogFilter,
    TxStatus,
};
use manyfold_chain_embedded::{
    factory, next_base_fee, BlockTime, Call, EmbeddedChain, EmbeddedConfig, EmbeddedError,
};
use manyfold_storage::{MemoryStorage, SledStorage, Storage};

const CHAIN_ID: u64 = 4242;

fn sled(dir: &tempfile::TempDir) -> Arc<dyn Storage> {
    Arc::new(SledStorage::open(dir.path()).unwrap())
}

fn open_instant(storage: Arc<dyn Storage>) -> EmbeddedChain {
    EmbeddedChain::open(storage, EmbeddedConfig::new(CHAIN_ID)).unwrap()
}

/// Everything a reader can see of the chain, to compare before and after a reopen.
fn snapshot(chain: &EmbeddedChain, accounts: &[Address], txs: &[alloy_primitives::B256]) -> String {
    let head = chain.head().number;
    let mut out = String::new();
    for n in 0..=head {
        out += &format!("{:?}\n", chain.block(BlockId::Number(n)).unwrap());
        out += &serde_json::to_string(&chain.rpc_block(BlockId::Number(n), true).unwrap()).unwrap();
    }
    for tx in txs {
        out += &format!("{:?}\n", chain.receipt(*tx).unwrap());
        out += &serde_json::to_string(&chain.rpc_receipt(*tx).unwrap()).unwrap();
    }
    let latest = BlockId::Tag(BlockTag::Latest);
    for a in accounts {
        out += &format!(
            "{a} {} {} {} {}\n",
            chain.balance(*a, latest).unwrap(),
            chain.nonce(*a, latest).unwrap(),
            chain.code(*a, latest).unwrap(),
            chain.storage_at(*a, U256::ZERO, latest).unwrap(),
        );
    }
    out += &format!("{:?}", chain.logs(&LogFilter::range(0, head)).unwrap());
    out
}

#[test]
fn blocks_state_and_logs_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open_instant(sled(&dir));
    let dev = chain.dev_accounts().to_vec();
    assert_eq!(dev.len(), 10);
    let (a, b) = (&dev[0], &dev[1]);
    let latest = BlockId::Tag(BlockTag::Latest);
    let ten_k_eth = U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64));
    assert_eq!(chain.balance(a.address, latest).unwrap(), ten_k_eth);
    assert_eq!(chain.head().number, 0);

    let deploy = chain
        .send_raw(&eip1559(
            a,
            CHAIN_ID,
            0,
            TxKind::Create,
            U256::ZERO,
            contract_init(),
            200_000,
        ))
        .unwrap();
    let receipt = chain.receipt(deploy).unwrap().unwrap();
    assert!(receipt.success);
    let contract = receipt.contract_address.unwrap();
    assert_eq!(contract, a.address.create(0));
    assert_eq!(
        chain.code(contract, latest).unwrap().to_vec(),
        contract_runtime()
    );

    let set = chain
        .send_raw(&eip1559(
            a,
            CHAIN_ID,
            1,
            TxKind::Call(contract),
            U256::ZERO,
            word(42),
            100_000,
        ))
        .unwrap();
    let receipt = chain.receipt(set).unwrap().unwrap();
    assert!(receipt.success);
    assert_eq!(receipt.logs.len(), 1);
    assert_eq!(receipt.logs[0].topics, vec![set_topic()]);
    assert_eq!(receipt.logs[0].data, word(42));
    assert_eq!(
        chain.storage_at(contract, U256::ZERO, latest).unwrap(),
        U256::from(42u64)
    );

    // A revert is mined, with status 0 and no logs, and changes no storage.
    let reverted = chain
        .send_raw(&eip1559(
            a,
            CHAIN_ID,
            2,
            TxKind::Call(contract),
            U256::ZERO,
            word(0),
            100_000,
        ))
        .unwrap();
    let receipt = chain.receipt(reverted).unwrap().unwrap();
    assert!(!receipt.success && receipt.logs.is_empty());
    assert_eq!(
        chain.storage_at(contract, U256::ZERO, latest).unwrap(),
        U256::from(42u64)
    );
    assert_eq!(
        chain.tx_status(reverted).unwrap(),
        TxStatus::Mined {
            block_number: receipt.block_number,
            block_hash: receipt.block_hash,
            success: false
        }
    );

    // Transfers of the three envelope types.
    let fresh = address!("00000000000000000000000000000000000f4e54");
    let t1 = chain
        .send_raw(&legacy(b, CHAIN_ID, 0, fresh, U256::from(7u64)))
        .unwrap();
    let t2 = chain
        .send_raw(&eip2930(b, CHAIN_ID, 1, fresh, U256::from(8u64)))
        .unwrap();
    let t3 = chain
        .send_raw(&eip1559(
            b,
            CHAIN_ID,
            2,
            TxKind::Call(fresh),
            U256::from(9u64),
            Bytes::new(),
            21_000,
        ))
        .unwrap();
    assert_eq!(chain.balance(fresh, latest).unwrap(), U256::from(24u64));
    assert_eq!(chain.nonce(b.address, latest).unwrap(), 3);
    assert_eq!(chain.head().number, 6, "one block per transaction");

    // Blocks chain up, and logs are found by address and topic.
    for n in 1..=6 {
        let block = chain.block(BlockId::Number(n)).unwrap().unwrap();
        let parent = chain.block(BlockId::Number(n - 1)).unwrap().unwrap();
        assert_eq!(block.parent_hash, parent.hash);
        assert!(block.timestamp >= parent.timestamp);
        assert_eq!(chain.block(BlockId::Hash(block.hash)).unwrap(), Some(block));
    }
    let logs = chain
        .logs(
            &LogFilter::range(0, 100)
                .address(contract)
                .topic(0, set_topic()),
        )
        .unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].tx_hash, set);
    assert!(chain
        .logs(&LogFilter::range(0, 100).address(fresh))
        .unwrap()
        .is_empty());

    // The same bytes again are already known, and an old nonce too low.
    assert!(matches!(
        chain.send_raw(&legacy(b, CHAIN_ID, 0, fresh, U256::from(7u64))),
        Err(ChainError::AlreadyKnown)
    ));
    assert!(matches!(
        chain.send_raw(&legacy(b, CHAIN_ID, 0, fresh, U256::from(70u64))),
        Err(ChainError::NonceTooLow(_))
    ));

    let accounts = [a.address, b.address, contract, fresh];
    let txs = [deploy, set, reverted, t1, t2, t3];
    let before = snapshot(&chain, &accounts, &txs);
    let head = chain.head();
    drop(chain);

    let chain = open_instant(sled(&dir));
    assert_eq!(chain.head(), head);
    assert_eq!(snapshot(&chain, &accounts, &txs), before);
    // And it goes on from there.
    chain
        .send_raw(&eip1559(
            a,
            CHAIN_ID,
            3,
            TxKind::Call(contract),
            U256::ZERO,
            word(43),
            100_000,
        ))
        .unwrap();
    assert_eq!(
        chain.storage_at(contract, U256::ZERO, latest).unwrap(),
        U256::from(43u64)
    );
    assert_eq!(chain.head().parent_hash, head.hash);
}

#[test]
fn another_chain_id_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(open_instant(sled(&dir)));
    let err = EmbeddedChain::open(sled(&dir), EmbeddedConfig::new(CHAIN_ID + 1)).unwrap_err();
    assert!(
        matches!(err, EmbeddedError::ChainIdMismatch { stored: CHAIN_ID, configured } if configured == CHAIN_ID + 1),
        "{err}"
    );
}

#[test]
fn transactions_for_another_chain_or_malformed_are_refused() {
    let chain = open_instant(Arc::new(MemoryStorage::new()));
    let a = &chain.dev_accounts()[0];
    let err = chain
        .send_raw(&legacy(a, CHAIN_ID + 1, 0, Address::ZERO, U256::ZERO))
        .unwrap_err();
    assert!(err.to_string().contains("invalid chain id"), "{err}");
    let err = chain.send_raw(&[0x02, 0xc0]).unwrap_err();
    assert!(err.to_string().contains("invalid transaction"), "{err}");
    let mut raw = legacy(a, CHAIN_ID, 0, Address::ZERO, U256::ZERO).to_vec();
    raw.push(0);
    assert!(chain.send_raw(&raw).is_err(), "trailing bytes");
    // A stranger with no funds.
    let poor =
        manyfold_chain_embedded::DevAccount::from_secret(alloy_primitives::B256::repeat_byte(7))
            .unwrap();
    assert!(matches!(
        chain.send_raw(&legacy(&poor, CHAIN_ID, 0, Address::ZERO, U256::ZERO)),
        Err(ChainError::InsufficientFunds(_))
    ));
    assert_eq!(chain.head().number, 0, "nothing refused was mined");
}

#[test]
fn timed_blocks_pool_replace_persist_and_drop() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        EmbeddedConfig::new(CHAIN_ID).with_block_time(BlockTime::Every(Duration::from_secs(3600)));
    let chain = EmbeddedChain::open(sled(&dir), config.clone()).unwrap();
    let a = chain.dev_accounts()[0].clone();
    let to = Address::repeat_byte(0x42);
    let latest = BlockId::Tag(BlockTag::Latest);

    let first = chain
        .send_raw(&eip1559(
            &a,
            CHAIN_ID,
            0,
            TxKind::Call(to),
            U256::from(1u64),
            Bytes::new(),
            21_000,
        ))
        .unwrap();
    assert_eq!(chain.tx_status(first).unwrap(), TxStatus::Pending);
    assert_eq!(chain.head().number, 0, "nothing mined before the timer");
    assert_eq!(chain.pending_nonce(a.address), 1);
    assert_eq!(chain.nonce(a.address, latest).unwrap(), 0);

    // The acknowledged transaction survives a restart.
    drop(chain);
    let chain = EmbeddedChain::open(sled(&dir), config.clone()).unwrap();
    assert_eq!(chain.tx_status(first).unwrap(), TxStatus::Pending);
    assert!(chain.rpc_transaction(first).unwrap().is_some());

    // Nonce 1 spends nearly everything; nonce 2 was affordable when sent, not when run.
    let balance = chain.balance(a.address, latest).unwrap();
    let gas_reserve = U256::from(21_000u128 * 10 * GWEI * 2);
    let big = chain
        .send_raw(&eip1559(
            &a,
            CHAIN_ID,
            1,
            TxKind::Call(to),
            balance - gas_reserve,
            Bytes::new(),
            21_000,
        ))
        .unwrap();
    let broke = chain
        .send_raw(&eip1559(
            &a,
            CHAIN_ID,
            2,
            TxKind::Call(to),
            U256::from(10u64).pow(U256::from(18u64)),
            Bytes::new(),
            21_000,
        ))
        .unwrap();
    let block = chain.mine().unwrap();
    assert_eq!(block.number, 1);
    assert!(matches!(
        chain.tx_status(first).unwrap(),
        TxStatus::Mined { success: true, .. }
    ));
    assert!(matches!(
        chain.tx_status(big).unwrap(),
        TxStatus::Mined { success: true, .. }
    ));
    assert_eq!(chain.tx_status(broke).unwrap(), TxStatus::Dropped);
    assert_eq!(chain.pool_len(), 0);

    // Empty blocks are fine, and the base fee falls by 1/8 per empty block.
    let before = chain.next_base_fee();
    chain.mine().unwrap();
    assert_eq!(chain.next_base_fee(), next_base_fee(before, 0, 30_000_000));
    assert!(chain.next_base_fee() < before);

    // Unknown transactions are unknown; reopening forgets nothing mined.
    assert_eq!(
        chain.tx_status(alloy_primitives::B256::ZERO).unwrap(),
        TxStatus::Unknown
    );
    drop(chain);
    let chain = EmbeddedChain::open(sled(&dir), config).unwrap();
    assert_eq!(chain.head().number, 2);
    assert_eq!(
        chain.pool_len(),
        0,
        "mined transactions left the persisted pool"
    );
}

#[test]
fn the_miner_thread_mines_and_stops() {
    let config =
        EmbeddedConfig::new(CHAIN_ID).with_block_time(BlockTime::Every(Duration::from_millis(20)));
    let chain = EmbeddedChain::open(Arc::new(MemoryStorage::new()), config).unwrap();
    let miner = chain.start_miner().expect("timed mode has a miner");
    let start = std::time::Instant::now();
    while chain.head().number < 3 {
        assert!(start.elapsed() < Duration::from_secs(10), "the miner mines");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(miner);
    let stopped_at = chain.head().number;
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        chain.head().number,
        stopped_at,
        "no block after the handle is dropped"
    );
    assert!(open_instant(Arc::new(MemoryStorage::new()))
        .start_miner()
        .is_none());
}

#[tokio::test]
async fn the_chain_interface() {
    let chain = open_instant(Arc::new(MemoryStorage::new()));
    let a = chain.dev_accounts()[0].clone();
    chain
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
    let contract = a.address.create(0);
    let plugin: Arc<dyn Chain> = Arc::new(chain.clone());
    assert_eq!(plugin.chain_id().await.unwrap(), CHAIN_ID);
    assert!(!plugin.capabilities().verifies_proofs);
    let head = plugin.head(BlockTag::Latest).await.unwrap();
    assert_eq!(head.number, 1);
    assert_eq!(
        plugin.head(BlockTag::Finalized).await.unwrap(),
        head,
        "every block is final"
    );
    assert_eq!(plugin.head(BlockTag::Safe).await.unwrap(), head);
    assert_eq!(plugin.block(BlockId::Number(2)).await.unwrap(), None);

    let call = |input: Bytes| CallRequest::new(contract, input);
    assert_eq!(
        plugin
            .call(call(Bytes::new()), BlockId::Number(1))
            .await
            .unwrap(),
        word(0)
    );
    match plugin
        .call(call(word(0)), BlockId::Tag(BlockTag::Latest))
        .await
    {
        Err(ChainError::Reverted { data, tx: None, .. }) => {
            assert_eq!(data.as_ref(), &[0xde, 0xad, 0xbe, 0xef])
        }
        other => panic!("{other:?}"),
    }
    let gas = plugin.estimate_gas(call(word(5))).await.unwrap();
    assert!(gas > 21_000 + 20_000 && gas < 60_000, "{gas}");
    assert!(matches!(
        plugin.estimate_gas(call(word(0))).await,
        Err(ChainError::Reverted { .. })
    ));
    // The estimate is enough to mine it.
    let hash = plugin
        .send_raw(eip1559(
            &a,
            CHAIN_ID,
            1,
            TxKind::Call(contract),
            U256::ZERO,
            word(5),
            gas,
        ))
        .await
        .unwrap();
    assert!(plugin.receipt(hash).await.unwrap().unwrap().success);

    // History is not kept; the future does not exist yet.
    let err = plugin
        .balance(a.address, BlockId::Number(0))
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::Unsupported(_)), "{err}");
    let err = plugin
        .nonce(a.address, BlockId::Number(99))
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::NotFound(_)), "{err}");
    assert_eq!(
        plugin
            .nonce(a.address, BlockId::Tag(BlockTag::Finalized))
            .await
            .unwrap(),
        2
    );

    let fees = plugin.estimate_fees().await.unwrap();
    assert_eq!(fees.base_fee_per_gas, u128::from(chain.next_base_fee()));
    assert!(fees.max_fee_per_gas >= fees.base_fee_per_gas + fees.max_priority_fee_per_gas);
    assert_eq!(
        plugin.tx_status(hash).await.unwrap(),
        chain.tx_status(hash).unwrap()
    );

    // A call from an account sees its caller.
    let out = chain
        .call(
            &Call {
                from: Some(a.address),
                to: Some(contract),
                ..Call::default()
            },
            BlockId::Tag(BlockTag::Latest),
        )
        .unwrap();
    assert_eq!(out, word(5));
}

#[test]
fn the_factory_reads_its_keys_and_refuses_others() {
    let stores: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let seen = stores.clone();
    let mut registry = ChainRegistry::new();
    registry
        .register(
            "embedded",
            factory(
                move |name: &str| {
                    seen.lock().unwrap().push(name.to_owned());
                    Arc::new(MemoryStorage::new()) as Arc<dyn Storage>
                },
                None,
            ),
        )
        .unwrap();
    let spec = ChainSpec::parse(
        "l1",
        &serde_json::json!({"kind": "embedded", "id": 0, "chain_id": 777,
            "block_time_ms": 0, "block_gas_limit": 20_000_000, "dev_accounts": 2,
            "rpc": "127.0.0.1:0"}),
    )
    .unwrap();
    let built = registry.build(&spec).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(built.chain.chain_id()).unwrap(), 777);
    assert_eq!(*stores.lock().unwrap(), ["l1"]);

    let typo = ChainSpec::parse(
        "l1",
        &serde_json::json!({"kind": "embedded", "id": 0, "block_time": 5}),
    )
    .unwrap();
    let err = registry.build(&typo).unwrap_err().to_string();
    assert!(
        err.contains("unknown key `block_time`") && err.contains("`block_time_ms`"),
        "{err}"
    );
    let bad = ChainSpec::parse(
        "l1",
        &serde_json::json!({"kind": "embedded", "id": 0, "rpc": "not an address"}),
    )
    .unwrap();
    assert!(registry
        .build(&bad)
        .unwrap_err()
        .to_string()
        .starts_with("chains.l1.rpc: "));
}
