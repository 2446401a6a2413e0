//! Load, against the running devnet (its own process: three embedded chains, the real
//! Nova prover): at least twice the sustainable submission rate, for a minute. What the
//! node can sustain is what it can prove: the block builder seals nothing more while
//! `block.max_unproven_blocks` blocks wait for a proof, so under overload the mempool fills
//! and refuses, clearly ("mempool is full"). Measured, not assumed: the ops the node sealed
//! and proved during the minute are its sustainable rate, and the load offered was at
//! least twice that. The devnet's resident memory stays bounded, the proving backlog never
//! exceeds its bound, every acknowledged transaction is included, and once the load stops
//! the node drains, takes a new transaction at once and proves up to its last block.

mod common;
mod walkthrough;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use manyfold_chain_conformance::anvil::free_port;
use manyfold_rpc::api::{AccountRef, BlockTag, ManyfoldApiClient};
use manyfold_state::testing::User;
use manyfold_types::ecdsa::sign_change_pubkey;
use manyfold_types::{AccountId, ChainDomain, ChainId, ChangePubKey, L2Tx, Nonce, TxStatus};
use walkthrough::Setup;

/// Concurrent senders, each its own L2 account; each sends to the next one (a ring).
const SENDERS: usize = 10;
/// Transactions offered per second, all senders together: a refused one is offered again
/// at its sender's next turn, with the same nonce (the next would only be a gap).
const OFFERED_PER_S: f64 = 8.0;
const LOAD: Duration = Duration::from_secs(60);
/// The devnet's limits: a small mempool and proving backlog, so that the backlog is
/// bounded and drains within a minute once the load stops.
const MAX_TXS: usize = 32;
const MAX_TXS_PER_ACCOUNT: usize = 16;
const MAX_OPS_PER_BLOCK: usize = 16;
const MAX_UNPROVEN_BLOCKS: u32 = 4;

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The last block the prover proved, from its gauge (0 before its first proof).
fn proven(devnet: &Setup) -> u32 {
    devnet
        .metric("manyfold_prover_last_proven_block")
        .unwrap_or(0.0) as u32
}

async fn sealed(client: &HttpClient) -> u32 {
    client
        .get_block_by_number(BlockTag::Latest)
        .await
        .unwrap()
        .map_or(0, |b| b.number)
}

/// The ops of blocks `from..=to`.
async fn ops_in(client: &HttpClient, from: u32, to: u32) -> u64 {
    let mut ops = 0;
    for n in from..=to {
        let block = client
            .get_block_by_number(BlockTag::Number(n))
            .await
            .unwrap()
            .unwrap();
        ops += block.ops.len() as u64;
    }
    ops
}

/// The account of `user`, waiting up to `timeout` for the node to create it.
async fn account_of(client: &HttpClient, user: &User, timeout: Duration) -> u32 {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(view) = client
            .get_account(AccountRef::Address(user.address), None)
            .await
            .unwrap()
        {
            return view.id.get();
        }
        assert!(Instant::now() < deadline, "no account for {}", user.address);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits up to `timeout` for the receipt of `hash`.
async fn receipt(client: &HttpClient, hash: B256, timeout: Duration) -> manyfold_types::Receipt {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(receipt) = client.get_transaction_receipt(hash).await.unwrap() {
            return receipt;
        }
        assert!(Instant::now() < deadline, "no receipt for {hash}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The ChangePubKey registering `user`'s L2 key on account `id`, authorised by its
/// Ethereum key for the primary's domain (as `manyfold wallet` signs it).
fn register_key(user: &User, id: u32, primary: &ChainDomain) -> L2Tx {
    let account = AccountId::new(id).unwrap();
    let pubkey_hash = user.l2.public_key().hash();
    L2Tx::ChangePubKey(ChangePubKey {
        account,
        chain: ChainId::new(0).unwrap(),
        pubkey_hash,
        nonce: Nonce(0),
        eth_signature: sign_change_pubkey(primary, &user.eth, pubkey_hash, Nonce(0), account),
    })
}

/// One look at the devnet while the load runs.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Seconds since the load began.
    at: f64,
    rss_kib: u64,
    /// The sealed height, then the proven height, read in that order.
    sealed: u32,
    proven: u32,
}

/// Sets its flag when dropped: the sampler stops even when the test fails.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What the load saw.
#[derive(Default)]
struct Outcome {
    /// Transactions offered (retries of refused ones included), and how long it took.
    offered: u64,
    load_secs: f64,
    acknowledged: Vec<B256>,
    refused_full: u64,
    refused_account: u64,
    /// The ops of the blocks proven, and of those sealed, during the load.
    proven_ops: u64,
    sealed_ops: u64,
    /// Seconds from the end of the load until every acknowledged transaction was in a
    /// block, and until the prover had proven the node's last block.
    included_secs: f64,
    caught_up_secs: f64,
}

#[test]
fn twice_the_sustainable_rate_for_a_minute_is_refused_clearly_and_loses_nothing() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let limits = [
        ("MANYFOLD_MEMPOOL__MAX_TXS", MAX_TXS),
        ("MANYFOLD_MEMPOOL__MAX_TXS_PER_ACCOUNT", MAX_TXS_PER_ACCOUNT),
        ("MANYFOLD_BLOCK__MAX_OPS_PER_BLOCK", MAX_OPS_PER_BLOCK),
        (
            "MANYFOLD_BLOCK__MAX_UNPROVEN_BLOCKS",
            MAX_UNPROVEN_BLOCKS as usize,
        ),
        // One proof may cover the whole backlog.
        (
            "MANYFOLD_PROVER__MAX_BLOCKS_PER_PROOF",
            MAX_UNPROVEN_BLOCKS as usize,
        ),
    ]
    .map(|(name, value)| (name, value.to_string()));
    let env: Vec<(&str, &str)> = limits.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ports = (free_port(), [free_port(), free_port(), free_port()]);
    let (devnet, _) = walkthrough::devnet::spawn_devnet(dir.path(), ports, &env);
    let pid = devnet.children[0].id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = HttpClientBuilder::default().build(&devnet.node).unwrap();

    // The senders' L2 accounts: a deposit for each on alpha (`manyfold wallet`, seven dev
    // accounts at a time), then each registers its L2 key.
    let users: Vec<User> = (0..SENDERS as u64)
        .map(|i| User::from_seed(7_000 + i))
        .collect();
    std::thread::scope(|scope| {
        for dev in 0..7 {
            let (devnet, users) = (&devnet, &users);
            scope.spawn(move || {
                for user in users.iter().skip(dev).step_by(7) {
                    devnet.ok(&[
                        "--dev",
                        &dev.to_string(),
                        "deposit",
                        "--chain",
                        "alpha",
                        "--token",
                        "0",
                        "--amount",
                        "0.01",
                        "--to",
                        &user.address.to_string(),
                        "--no-wait",
                    ]);
                }
            });
        }
    });
    let ids: Vec<u32> = rt.block_on(async {
        let primary = client.chains().await.unwrap().remove(0);
        assert!(primary.primary);
        let domain = ChainDomain {
            evm_chain_id: primary.evm_chain_id.unwrap(),
            settlement: primary.settlement.unwrap(),
        };
        let mut ids = Vec::new();
        for user in &users {
            ids.push(account_of(&client, user, Duration::from_secs(120)).await);
        }
        let mut hashes = Vec::new();
        for (user, id) in users.iter().zip(&ids) {
            let tx = register_key(user, *id, &domain);
            hashes.push(client.send_transaction(tx).await.unwrap());
        }
        for hash in hashes {
            let r = receipt(&client, hash, Duration::from_secs(120)).await;
            assert_eq!(r.status, TxStatus::Included, "{r:?}");
        }
        ids
    });
    // The setup's blocks proven: the prover has run once, and the baseline includes it.
    let height = rt.block_on(sealed(&client));
    walkthrough::wait_until(
        "the setup's blocks proven",
        Duration::from_secs(180),
        || proven(&devnet) >= height,
    );
    let setup_secs = started.elapsed().as_secs_f64();
    let baseline = rss_kib(pid);

    // Where the devnet's log stood when the load began: what follows is the load's.
    let log_before = devnet.log_text().len();
    let stop = AtomicBool::new(false);
    let samples = Mutex::new(Vec::<Sample>::new());
    let load_start = Instant::now();
    let outcome = std::thread::scope(|scope| {
        let _stop = StopOnDrop(&stop);
        // The devnet's memory and proving backlog, twice a second from the start of the
        // load until the prover has caught up after it.
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let sealed = devnet.metric("manyfold_block_height").unwrap_or(0.0) as u32;
                let sample = Sample {
                    at: load_start.elapsed().as_secs_f64(),
                    rss_kib: rss_kib(pid),
                    sealed,
                    proven: proven(&devnet),
                };
                samples.lock().unwrap().push(sample);
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        rt.block_on(load(&client, &devnet, &users, &ids, load_start))
    });
    let samples = samples.into_inner().unwrap();
    let Outcome {
        offered,
        load_secs,
        acknowledged,
        refused_full,
        refused_account,
        proven_ops,
        sealed_ops,
        included_secs,
        caught_up_secs,
    } = outcome;
    let refused = refused_full + refused_account;

    // The load was at least twice what the node sustained: what it sealed and what it
    // proved in the same minute (the larger; they differ by the backlog at either end).
    let sustained = proven_ops.max(sealed_ops);
    assert!(
        offered >= 2 * sustained,
        "offered {offered}, sustained {sustained} (proved {proven_ops}, sealed {sealed_ops})"
    );
    assert_eq!(offered, acknowledged.len() as u64 + refused);
    assert!(refused_full > 0, "the mempool refused the excess as full");

    // The proving backlog reached its bound and never passed it: the builder waited for
    // the prover. Sealed is read before proven, and the builder seals only while the
    // stored proofs leave room; the one block of slack is for the proof gauge, set just
    // after the proof is stored, so that a read between the two can see a block sealed
    // on the new proof before the gauge has moved.
    let backlog = samples
        .iter()
        .map(|s| s.sealed.saturating_sub(s.proven))
        .max()
        .unwrap();
    assert!(
        (MAX_UNPROVEN_BLOCKS..=MAX_UNPROVEN_BLOCKS + 1).contains(&backlog),
        "at most {backlog} blocks waited for a proof: {samples:?}"
    );
    let text = devnet.log_text();
    let log = text.get(log_before..).unwrap_or(&text);
    assert!(
        log.contains("the proving backlog is full: sealing waits for the prover"),
        "the builder never waited for the prover"
    );
    // Nothing failed under the load. (From the load on only: on a fresh data dir the
    // prover may open before the builder has stored genesis, and retries once.)
    for trouble in [
        "proving failed",
        "pipeline stopped",
        "an operator must look",
    ] {
        assert!(!log.contains(trouble), "{trouble}:\n{log}");
    }

    // Memory stays bounded: the devnet's resident memory swings with each proof (the
    // prover's working set, some hundreds of MiB) but does not climb: under 1 GiB above
    // the baseline after the setup's proofs, and the second half of the run peaks no
    // higher than the first half did, give or take 256 MiB.
    let peak = |s: &[Sample]| s.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let grown_mib = peak(&samples).saturating_sub(baseline) / 1024;
    assert!(grown_mib < 1024, "memory grew {grown_mib} MiB under load");
    let middle = samples.last().unwrap().at / 2.0;
    let (first, second) = samples.split_at(samples.partition_point(|s| s.at < middle));
    let (first_mib, second_mib) = (peak(first) / 1024, peak(second) / 1024);
    assert!(
        second_mib <= first_mib + 256,
        "memory climbs: peak {first_mib} MiB, then {second_mib} MiB"
    );

    eprintln!(
        "load: offered {offered} in {load_secs:.0}s ({:.1}/s) from {SENDERS} senders, \
         acknowledged {}, refused {refused} ({refused_full} mempool full, {refused_account} \
         account queue full); sustained {:.2}/s (sealed {sealed_ops}, proved {proven_ops} ops \
         in the window), offered {:.1}x that; backlog at most {backlog} blocks (bound \
         {MAX_UNPROVEN_BLOCKS}); devnet memory {} MiB after setup, +{grown_mib} MiB at peak \
         (peaks {first_mib} then {second_mib} MiB); all acknowledged included {included_secs:.0}s \
         and proving caught up {caught_up_secs:.0}s after the load; setup {setup_secs:.0}s, \
         total {:.0}s",
        offered as f64 / load_secs,
        acknowledged.len(),
        sustained as f64 / load_secs,
        offered as f64 / sustained as f64,
        baseline / 1024,
        started.elapsed().as_secs_f64(),
    );
}

/// The load from `load_start` on, then the drain and the recovery.
async fn load(
    client: &HttpClient,
    devnet: &Setup,
    users: &[User],
    ids: &[u32],
    load_start: Instant,
) -> Outcome {
    let (proven_before, sealed_before) = (proven(devnet), sealed(client).await);
    // Each sender at its share of the offered rate, their turns spread over the period.
    let period = Duration::from_secs_f64(SENDERS as f64 / OFFERED_PER_S);
    let mut tasks = Vec::new();
    for (s, user) in users.iter().cloned().enumerate() {
        let client = client.clone();
        let (from, to) = (ids[s], ids[(s + 1) % SENDERS]);
        let mut next = load_start + period.mul_f64(s as f64 / SENDERS as f64);
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            let mut nonce = 1;
            while next < load_start + LOAD {
                tokio::time::sleep_until(next.into()).await;
                next += period;
                out.offered += 1;
                let tx = common::transfer(&user, from, to, 1, nonce);
                match client.send_transaction(tx).await {
                    Ok(hash) => {
                        out.acknowledged.push(hash);
                        nonce += 1;
                    }
                    // Refused: offered again at the next turn, with the same nonce.
                    Err(e) => {
                        let text = e.to_string();
                        if text.contains("mempool is full") {
                            out.refused_full += 1;
                        } else if text.contains("queued transactions") {
                            out.refused_account += 1;
                        } else {
                            panic!("a refusal says why: {text}");
                        }
                    }
                }
            }
            out
        }));
    }
    let mut out = Outcome::default();
    for task in tasks {
        let sender = task.await.unwrap();
        out.offered += sender.offered;
        out.acknowledged.extend(sender.acknowledged);
        out.refused_full += sender.refused_full;
        out.refused_account += sender.refused_account;
    }
    let load_end = Instant::now();
    out.load_secs = (load_end - load_start).as_secs_f64();
    let (proven_after, sealed_after) = (proven(devnet), sealed(client).await);
    out.proven_ops = ops_in(client, proven_before + 1, proven_after).await;
    out.sealed_ops = ops_in(client, sealed_before + 1, sealed_after).await;

    // Nothing acknowledged is lost: every one is included.
    for hash in &out.acknowledged {
        let r = receipt(client, *hash, Duration::from_secs(180)).await;
        assert_eq!(r.status, TxStatus::Included, "{r:?}");
    }
    out.included_secs = load_end.elapsed().as_secs_f64();

    // The node recovers: it takes a new transaction at once, includes it, and proves up
    // to its last block.
    let next = client
        .get_account(AccountRef::Id(AccountId::new(ids[0]).unwrap()), None)
        .await
        .unwrap()
        .unwrap()
        .nonce
        .0;
    let hash = client
        .send_transaction(common::transfer(&users[0], ids[0], ids[1], 1, next))
        .await
        .expect("a new transaction taken at once after the load");
    let fresh = receipt(client, hash, Duration::from_secs(60)).await;
    assert_eq!(fresh.status, TxStatus::Included);
    let last = sealed(client).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while proven(devnet) < last {
        assert!(
            Instant::now() < deadline,
            "proving did not catch up with block {last}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    out.caught_up_secs = load_end.elapsed().as_secs_f64();
    out
}
