//! Sequencing throughput: signed transfers sent over JSON-RPC (HTTP, loopback) to sealed,
//! durable blocks. Prints its figures; record them in docs/benchmarks.md.
//!
//! `cargo bench -p manyfold-node --bench sequencing [-- USERS ROUNDS]`

#![allow(missing_docs)]

use std::time::{Duration, Instant};

use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use manyfold_node::config::NodeConfig;
use manyfold_rpc::api::{AccountRef, BlockTag, ManyfoldApiClient};
use manyfold_state::testing::User;
use manyfold_types::ecdsa::sign_change_pubkey;
use manyfold_types::{
    AccountId, Amount, ChainId, ChangePubKey, Deposit, L2Tx, Nonce, PriorityOp, TokenId, Transfer,
    TxStatus,
};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let users = args.first().copied().unwrap_or(64);
    let rounds = args.get(1).copied().unwrap_or(40);
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::devnet();
    config.data_dir = dir.path().to_path_buf();
    config.rpc.addr = "127.0.0.1:0".parse().unwrap();
    config.metrics.enabled = false;
    // Sequencing alone: the prover has its own bench and would compete for the two cores.
    config.prover.enabled = false;
    config.mempool.max_txs = 100_000;
    config.block.max_ops_per_block = 256;
    config.block.max_block_time_ms = 200;
    config.block.poll_interval_ms = 10;

    actix_rt::System::with_tokio_rt(|| tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap())
        .block_on(async move {
            let node = manyfold_node::start(&config).await.unwrap();
            let client = HttpClientBuilder::default().build(format!("http://{}", node.rpc_addr)).unwrap();
            let wallets: Vec<User> = (0..users as u64).map(|i| User::from_seed(1_000 + i)).collect();
            let chain = ChainId::new(0).unwrap();
            let token = TokenId::new(0).unwrap();
            for (i, user) in wallets.iter().enumerate() {
                let deposit = Deposit { chain, serial_id: i as u64, address: user.address, token, amount: Amount(1 << 100) };
                client.submit_priority_op(PriorityOp::Deposit(deposit)).await.unwrap();
            }
            wait_for(&client, || async { client.get_account(AccountRef::Address(wallets[users - 1].address), None).await.unwrap().is_some() }).await;
            let mut last = None;
            for (i, user) in wallets.iter().enumerate() {
                let account = AccountId::new(i as u32).unwrap();
                let pubkey_hash = user.l2.public_key().hash();
                let chains = manyfold_types::ChainSet::local(1);
                let domain = chains.domain(manyfold_types::ChainId::new(0).unwrap()).unwrap();
                let eth_signature =
                    sign_change_pubkey(domain, &user.eth, pubkey_hash, Nonce(0), account);
                let tx = L2Tx::ChangePubKey(ChangePubKey { account, chain, pubkey_hash, nonce: Nonce(0), eth_signature });
                last = Some(client.send_transaction(tx).await.unwrap());
            }
            let last = last.unwrap();
            wait_for(&client, || async { client.get_transaction_receipt(last).await.unwrap().is_some() }).await;
            let height_before = client.get_block_by_number(BlockTag::Latest).await.unwrap().unwrap().number;

            // Signed ahead, so that the figure is the node's, not the wallet's.
            let plans: Vec<Vec<L2Tx>> = wallets
                .iter()
                .enumerate()
                .map(|(i, user)| {
                    (1..=rounds as u32)
                        .map(|nonce| {
                            let t = Transfer {
                                from: AccountId::new(i as u32).unwrap(),
                                to: AccountId::new(((i + 1) % users) as u32).unwrap(),
                                token,
                                amount: Amount(1),
                                nonce: Nonce(nonce),
                            };
                            L2Tx::Transfer(t.sign(&user.l2))
                        })
                        .collect()
                })
                .collect();
            let total = users * rounds;
            let started = Instant::now();
            let mut tasks = Vec::new();
            for plan in plans {
                let client = client.clone();
                tasks.push(tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(plan.len());
                    let mut hashes = Vec::with_capacity(plan.len());
                    for tx in plan {
                        let sent = Instant::now();
                        hashes.push(client.send_transaction(tx).await.unwrap());
                        latencies.push(sent.elapsed());
                    }
                    (hashes, latencies)
                }));
            }
            let mut hashes = Vec::new();
            let mut latencies = Vec::new();
            for task in tasks {
                let (h, l) = task.await.unwrap();
                hashes.extend(h);
                latencies.extend(l);
            }
            let acknowledged = started.elapsed();
            for hash in &hashes {
                let client = &client;
                wait_for(client, || async move {
                    matches!(client.get_transaction_receipt(*hash).await.unwrap(), Some(r) if r.status == TxStatus::Included)
                })
                .await;
            }
            let sealed = started.elapsed();
            let height_after = client.get_block_by_number(BlockTag::Latest).await.unwrap().unwrap().number;
            latencies.sort();
            let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
            println!("sequencing: {users} senders x {rounds} transfers = {total} signed transfers over HTTP");
            println!("  all acknowledged (durable in mempool): {:.2} s -> {:.0} tx/s", acknowledged.as_secs_f64(), total as f64 / acknowledged.as_secs_f64());
            println!("  all included in sealed durable blocks: {:.2} s -> {:.0} tx/s", sealed.as_secs_f64(), total as f64 / sealed.as_secs_f64());
            println!("  blocks: {} (avg {:.1} ops/block)", height_after - height_before, total as f64 / (height_after - height_before).max(1) as f64);
            println!("  submit latency: p50 {:?}, p99 {:?}", pct(0.5), pct(0.99));
            node.stop().await;
        });
}

async fn wait_for<F, Fut>(_client: &HttpClient, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(300);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
