//! The log poller against anvil: it consumes logs up to the latest block, anvil reorgs
//! them away, the poller notices, rewinds, persists, and reads the new canonical logs.

mod common;

use std::sync::Arc;

use common::*;
use manyfold_chain::{BlockId, ChainReader, Finality, LogFilter};
use manyfold_storage::{SledStorage, Storage};
use manyfold_watcher::{LogPoller, PollEvent, PollerError, PollerOptions};
use serde_json::json;

fn open(
    storage: Arc<dyn Storage>,
    chain: Arc<dyn ChainReader>,
    emitter: alloy_primitives::Address,
) -> LogPoller {
    LogPoller::open(
        storage,
        chain,
        "reorgy",
        "emitted",
        LogFilter::default().address(emitter).topic(0, EMITTED),
        Finality::Blocks(0),
        PollerOptions {
            start_block: 0,
            max_range: 100,
            window: 16,
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_reorg_of_consumed_blocks_is_reported_and_the_cursor_rewinds_durably() {
    let anvil = Anvil::start();
    let chain = anvil.chain("reorgy").await;
    let emitter = anvil.deploy(&emitter()).await; // block 1
    let a0 = address(KEY0);
    for i in 1..=3u8 {
        let tx = anvil.send_from(a0, Some(emitter), &[i; 32]).await; // blocks 2, 3, 4
        anvil.receipt(tx).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());
    let mut poller = open(storage.clone(), chain.clone(), emitter);

    let PollEvent::Logs(batch) = poller.poll().await.unwrap() else {
        panic!("logs expected");
    };
    assert_eq!((batch.from_block, batch.to_block), (0, 4));
    let data: Vec<u8> = batch.logs.iter().map(|l| l.data[0]).collect();
    assert_eq!(data, [1, 2, 3]);
    // Polling again without committing hands the same range out again.
    assert_eq!(poller.poll().await.unwrap(), PollEvent::Logs(batch.clone()));
    poller.commit(&batch).unwrap();
    assert_eq!(poller.cursor().next_block, 5);
    assert!(matches!(
        poller.commit(&batch),
        Err(PollerError::StaleBatch { next: 5, .. })
    ));
    assert_eq!(poller.poll().await.unwrap(), PollEvent::Idle);
    let block1 = chain.block(BlockId::Number(1)).await.unwrap().unwrap();
    let old_block3 = chain.block(BlockId::Number(3)).await.unwrap().unwrap();

    // Blocks 3 and 4 are replaced; the new block 3 holds one other emission.
    let replacement = json!({"from": a0, "to": emitter, "data": format!("0x{}", "09".repeat(32)), "gas": "0x100000"});
    anvil
        .rpc("anvil_reorg", json!([2, [[replacement, 0]]]))
        .await;
    let new_block3 = chain.block(BlockId::Number(3)).await.unwrap().unwrap();
    assert_ne!(new_block3.hash, old_block3.hash, "anvil reorged");

    let PollEvent::Reorg(reorg) = poller.poll().await.unwrap() else {
        panic!("a reorg expected");
    };
    assert_eq!(reorg.last_common, Some(2));
    assert_eq!(reorg.rewound_to, 3);
    let replaced: Vec<u64> = reorg.replaced.iter().map(|(n, _)| *n).collect();
    assert_eq!(replaced, [4, 3], "newest first");
    assert_eq!(poller.cursor().next_block, 3);
    assert!(poller.cursor().recent.keys().all(|n| *n <= 2));
    assert!(poller
        .cursor()
        .recent
        .get(&1)
        .is_none_or(|h| *h == block1.hash));
    let rewound = poller.cursor().clone();

    // A restart resumes from the rewound cursor.
    drop(poller);
    drop(storage);
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());
    let mut poller = open(storage.clone(), chain.clone(), emitter);
    assert_eq!(poller.cursor(), &rewound);

    let PollEvent::Logs(batch) = poller.poll().await.unwrap() else {
        panic!("the new canonical logs expected");
    };
    assert_eq!(batch.from_block, 3);
    let data: Vec<u8> = batch.logs.iter().map(|l| l.data[0]).collect();
    assert_eq!(data, [9], "the replacement, not the reorged emissions");
    assert_eq!(batch.logs[0].block_hash, new_block3.hash);
    poller.commit(&batch).unwrap();
    assert_eq!(poller.poll().await.unwrap(), PollEvent::Idle);
}
