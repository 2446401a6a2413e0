//! A node on loopback, driven over real HTTP and WebSocket: deposits, key registration and
//! signed transfers end up in blocks and receipts; subscriptions deliver the blocks.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use jsonrpsee_ws_client::WsClientBuilder;
use manyfold_rpc::api::{AccountRef, BlockTag, ManyfoldApiClient, Stage, StatusChange};
use manyfold_state::testing::User;
use manyfold_types::{Amount, Block, TxStatus};

#[test]
fn transfers_reach_blocks_receipts_and_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let node = manyfold_node::start(&test_config(dir.path()))
            .await
            .unwrap();
        let client = http(node.rpc_addr);
        let ws = WsClientBuilder::default()
            .build(format!("ws://{}", node.rpc_addr))
            .await
            .unwrap();
        let mut blocks = ws.subscribe_new_blocks().await.unwrap();
        let mut statuses = ws.subscribe_status().await.unwrap();

        let alice = User::from_seed(1);
        let bob = User::from_seed(2);
        client
            .submit_priority_op(deposit(&alice, 0, 1_000))
            .await
            .unwrap();
        client
            .submit_priority_op(deposit(&bob, 1, 10))
            .await
            .unwrap();
        let a = account_of(&client, &alice).await;
        let b = account_of(&client, &bob).await;
        assert_eq!((a, b), (0, 1), "accounts are numbered in deposit order");

        let cpk = client
            .send_transaction(register_key(&alice, a, 0))
            .await
            .unwrap();
        assert_eq!(receipt(&client, cpk).await.status, TxStatus::Included);
        let mut hashes = Vec::new();
        for nonce in 1..=5 {
            hashes.push(
                client
                    .send_transaction(transfer(&alice, a, b, 100, nonce))
                    .await
                    .unwrap(),
            );
        }
        let mut included_in = BTreeSet::new();
        for hash in &hashes {
            let r = receipt(&client, *hash).await;
            assert_eq!(r.status, TxStatus::Included);
            let block = client
                .get_block_by_number(BlockTag::Number(r.block_number))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(block.ops[r.index.unwrap() as usize].tx_hash, Some(*hash));
            included_in.insert(r.block_number);
        }

        let alice_view = client
            .get_account(
                AccountRef::Id(manyfold_types::AccountId::new(a).unwrap()),
                Some(true),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(alice_view.balances[&token()], Amount(500));
        assert_eq!(alice_view.nonce.0, 6);
        let proof = alice_view.proof.expect("asked for a proof");
        let latest_block = client
            .get_block_by_number(BlockTag::Latest)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(proof.state_root, latest_block.state_root);
        let bob_view = client
            .get_account(AccountRef::Address(bob.address), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bob_view.balances[&token()], Amount(510));

        // The subscription saw every block, in order, up to the latest.
        let mut seen: Vec<Block> = Vec::new();
        while seen.last().map(|b| b.number) != Some(latest_block.number) {
            let block = tokio::time::timeout(Duration::from_secs(10), blocks.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            seen.push(block);
        }
        assert!(seen
            .windows(2)
            .all(|w| w[1].number == w[0].number + 1 && w[1].parent_hash == w[0].hash()));
        assert!(included_in
            .iter()
            .all(|n| seen.iter().any(|b| b.number == *n)));
        let status: StatusChange = tokio::time::timeout(Duration::from_secs(10), statuses.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(status.stage, Stage::Sealed);
        assert!(
            client.chains().await.unwrap().is_empty(),
            "the devnet has no chains yet"
        );
        node.stop().await;
    });
}

#[test]
fn raw_transactions_and_openrpc_document_are_served() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let node = manyfold_node::start(&test_config(dir.path()))
            .await
            .unwrap();
        let client = http(node.rpc_addr);
        let alice = User::from_seed(7);
        client
            .submit_priority_op(deposit(&alice, 0, 5))
            .await
            .unwrap();
        let a = account_of(&client, &alice).await;
        let tx = register_key(&alice, a, 0);
        let hash = client
            .send_raw_transaction(tx.encode().into())
            .await
            .unwrap();
        assert_eq!(hash, tx.hash());
        assert_eq!(receipt(&client, hash).await.status, TxStatus::Included);

        use jsonrpsee::core::client::ClientT;
        let doc: serde_json::Value = client
            .request("rpc.discover", jsonrpsee::rpc_params![])
            .await
            .unwrap();
        assert_eq!(
            doc["openrpc"].as_str().map(|v| v.starts_with("1.")),
            Some(true)
        );
        node.stop().await;
    });
}
