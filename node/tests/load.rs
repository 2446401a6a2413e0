//! Load: twice the rate the node can seal, for a minute. The sealing rate is bounded by
//! configuration here (`max_ops_per_block` ops per builder tick of `poll_interval_ms`),
//! so "twice" is exact: the mempool fills, refuses with "mempool full", every transaction
//! it acknowledged reaches a block, the node's memory stays bounded, and once the load
//! stops the node drains and takes new transactions at once.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use manyfold_rpc::api::{AccountRef, ManyfoldApiClient};
use manyfold_state::testing::User;
use manyfold_types::{AccountId, TxStatus, B256};

/// The process's resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn twice_the_sustainable_rate_for_a_minute_is_refused_clearly_and_loses_nothing() {
    const SENDERS: usize = 20;
    const OPS_PER_BLOCK: usize = 10;
    const TICK_MS: u64 = 100;
    // What the builder can seal at most: one block of OPS_PER_BLOCK per tick.
    const SUSTAINABLE_PER_S: u64 = OPS_PER_BLOCK as u64 * 1_000 / TICK_MS;
    const LOAD: Duration = Duration::from_secs(60);
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.block.max_ops_per_block = OPS_PER_BLOCK;
    config.block.poll_interval_ms = TICK_MS;
    config.block.max_block_time_ms = TICK_MS;
    config.mempool.max_txs = 300;
    config.mempool.max_txs_per_account = 64;
    run(async move {
        let node = manyfold_node::start(&config).await.unwrap();
        let client = http(node.rpc_addr);
        let users: Vec<User> = (1..=SENDERS as u64 + 1).map(User::from_seed).collect();
        let funded: Vec<(&User, u128)> = users.iter().map(|u| (u, 1_000_000)).collect();
        let ids = fund(&client, &funded, 0).await;
        for (user, id) in users.iter().zip(&ids).take(SENDERS) {
            let r = submit(&client, register_key(user, *id, 0)).await;
            assert_eq!(r.status, TxStatus::Included);
        }
        let sink = *ids.last().unwrap();
        let baseline = rss_kib();

        // SENDERS tasks, each at its share of twice the sustainable rate; a refused
        // transaction is sent again (the next nonce would only be a gap).
        let acknowledged = Arc::new(Mutex::new(Vec::<B256>::new()));
        let refusals = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(baseline));
        let period = Duration::from_secs_f64(SENDERS as f64 / (2 * SUSTAINABLE_PER_S) as f64);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (s, user) in users.iter().take(SENDERS).cloned().enumerate() {
            let (client, acknowledged, refusals, peak) = (
                client.clone(),
                acknowledged.clone(),
                refusals.clone(),
                peak.clone(),
            );
            let from = ids[s];
            tasks.push(tokio::spawn(async move {
                let mut nonce = 1;
                let mut next = Instant::now();
                while started.elapsed() < LOAD {
                    tokio::time::sleep_until(next.into()).await;
                    next += period;
                    let tx = transfer(&user, from, sink, 1, nonce);
                    match client.send_transaction(tx).await {
                        Ok(hash) => {
                            acknowledged.lock().unwrap().push(hash);
                            nonce += 1;
                        }
                        Err(e) => {
                            let text = e.to_string();
                            assert!(
                                text.contains("mempool is full")
                                    || text.contains("queued transactions"),
                                "a refusal says why: {text}"
                            );
                            refusals.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    peak.fetch_max(rss_kib(), Ordering::Relaxed);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let acknowledged = acknowledged.lock().unwrap().clone();
        let refused = refusals.load(Ordering::Relaxed);
        let offered = acknowledged.len() as u64 + refused;
        // The load really was about twice what can be sealed, and the excess refused.
        assert!(
            offered >= SUSTAINABLE_PER_S * LOAD.as_secs() * 3 / 2,
            "offered {offered}"
        );
        assert!(refused > 0, "the mempool refused the excess");
        let grown_mib = peak.load(Ordering::Relaxed).saturating_sub(baseline) / 1024;
        assert!(grown_mib < 512, "memory grew {grown_mib} MiB under load");

        // Nothing acknowledged is lost: every one reaches a block.
        for hash in &acknowledged {
            assert_eq!(receipt(&client, *hash).await.status, TxStatus::Included);
        }
        // And the node takes a new transaction at once after.
        let next_nonce = client
            .get_account(AccountRef::Id(AccountId::new(ids[0]).unwrap()), None)
            .await
            .unwrap()
            .unwrap()
            .nonce
            .0;
        let fresh = transfer(&users[0], ids[0], sink, 1, next_nonce);
        let r = tokio::time::timeout(Duration::from_secs(10), submit(&client, fresh))
            .await
            .expect("a new transaction right after the load");
        assert_eq!(r.status, TxStatus::Included);
        eprintln!(
            "load: offered {offered} in {}s (sustainable {SUSTAINABLE_PER_S}/s), acknowledged {}, refused {refused}, memory +{grown_mib} MiB",
            LOAD.as_secs(),
            acknowledged.len()
        );
        node.stop().await;
    });
}
