//! Embedded chain throughput: plain ETH transfers and `Primary.commitBlocks` calls, sent
//! pre-signed with `send_raw` and mined in full blocks (`BlockTime::Every` batching, the
//! blocks made by calling `mine` until the pool is empty), on a durable sled store; and
//! transfers in instant mode (one block per transaction), which is what tests use.
//! Prints its figures; record them in docs/benchmarks.md.
//!
//! `cargo bench -p manyfold-chain-embedded --bench chain [-- TRANSFERS COMMITS INSTANT]`
//! (defaults 2000, 300, 300)

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{TxEip1559, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use alloy_sol_types::{SolCall, SolValue};
use manyfold_chain::{BlockId, BlockTag};
use manyfold_chain_embedded::{BlockTime, Call, DevAccount, EmbeddedChain, EmbeddedConfig};
use manyfold_contracts::bindings::{Artifact, Primary};
use manyfold_contracts::settlement::{PrimaryBookkeeping, SettlementBlock};
use manyfold_state::L2State;
use manyfold_storage::{MemoryStorage, SledStorage, Storage};
use manyfold_types::block::fr_to_b256;
use manyfold_types::{ChainId, ChainSet, Fr, Op};

const CHAIN_ID: u64 = 4242;
const GWEI: u128 = 1_000_000_000;
/// Noop ops per committed L2 block.
const OPS_PER_COMMIT: usize = 4;
/// The pool's default limit on one sender's transactions (`max_txs_per_sender`,
/// `max_nonce_ahead`): transfers are spread over enough accounts that all of them wait in
/// the pool at once, and the operator's commits are sent this many at a time.
const PER_SENDER: usize = 16;

fn signed(from: &DevAccount, nonce: u64, to: TxKind, value: U256, input: Bytes, gas: u64) -> Bytes {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: gas,
        // Far above the base fee however full the blocks get in a run.
        max_fee_per_gas: 1_000 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to,
        value,
        input,
        ..Default::default()
    };
    TxEnvelope::from(from.sign(tx)).encoded_2718().into()
}

fn open(storage: Arc<dyn Storage>, block_time: BlockTime, dev_accounts: u32) -> EmbeddedChain {
    let mut config = EmbeddedConfig::new(CHAIN_ID).with_block_time(block_time);
    config.dev_accounts = dev_accounts;
    config.pool_capacity = 8192;
    EmbeddedChain::open(storage, config).unwrap()
}

/// Long enough that no miner would ever run; none is started anyway.
fn batched() -> BlockTime {
    BlockTime::Every(Duration::from_secs(3600))
}

/// Times of one batched run.
struct Batch {
    send: Duration,
    mine: Duration,
    blocks: u64,
    hashes: Vec<B256>,
}

impl Batch {
    fn total(&self) -> Duration {
        self.send + self.mine
    }
}

/// Sends the transactions `round` at a time, mining until the pool is empty after each
/// round.
fn send_and_mine(chain: &EmbeddedChain, raws: &[Bytes], round: usize) -> Batch {
    let first = chain.head().number;
    let mut batch = Batch {
        send: Duration::ZERO,
        mine: Duration::ZERO,
        blocks: 0,
        hashes: Vec::with_capacity(raws.len()),
    };
    for chunk in raws.chunks(round) {
        let started = Instant::now();
        for raw in chunk {
            batch.hashes.push(chain.send_raw(raw).unwrap());
        }
        batch.send += started.elapsed();
        let started = Instant::now();
        while chain.pool_len() > 0 {
            chain.mine().unwrap();
        }
        batch.mine += started.elapsed();
    }
    batch.blocks = chain.head().number - first;
    batch
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `transfers` pre-signed transfers of 1 wei, spread over the dev accounts, each to the
/// next account.
fn transfers(accounts: &[DevAccount], transfers: usize) -> Vec<Bytes> {
    (0..transfers)
        .map(|i| {
            let from = i % accounts.len();
            let to = accounts[(from + 1) % accounts.len()].address;
            let nonce = (i / accounts.len()) as u64;
            signed(
                &accounts[from],
                nonce,
                TxKind::Call(to),
                U256::from(1u64),
                Bytes::new(),
                21_000,
            )
        })
        .collect()
}

fn bench_transfers(n: usize) {
    let accounts = n.div_ceil(PER_SENDER) as u32;
    println!(
        "== plain ETH transfers: {n} from {accounts} dev accounts ({PER_SENDER} each), all sent, then mined in blocks of up to 30M gas =="
    );
    let dir = tempfile::tempdir().unwrap();
    let sled: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());
    let chain = open(sled, batched(), accounts);
    let raws = transfers(chain.dev_accounts(), n);

    // Signature recovery alone, as `send_raw` does it, for the share it takes.
    let started = Instant::now();
    for raw in &raws {
        let envelope = TxEnvelope::decode_2718(&mut raw.as_ref()).unwrap();
        envelope.recover_signer().unwrap();
    }
    let recovery = started.elapsed();

    let run = send_and_mine(&chain, &raws, n);
    for hash in [run.hashes[0], *run.hashes.last().unwrap()] {
        assert!(chain.receipt(hash).unwrap().unwrap().success);
    }

    // The same on an in-memory store: what sled's durable commits cost.
    let memory = open(Arc::new(MemoryStorage::new()), batched(), accounts);
    let mem_run = send_and_mine(&memory, &raws, n);
    assert_eq!(mem_run.blocks, run.blocks);

    println!("| figure | sled (durable) | in memory |");
    println!("|---|---|---|");
    println!(
        "| send_raw, all {n} | {:.0} ms ({:.2} ms each) | {:.0} ms ({:.2} ms each) |",
        ms(run.send),
        ms(run.send) / n as f64,
        ms(mem_run.send),
        ms(mem_run.send) / n as f64
    );
    println!(
        "| mine, {} blocks | {:.0} ms ({:.1} ms per block) | {:.0} ms ({:.1} ms per block) |",
        run.blocks,
        ms(run.mine),
        ms(run.mine) / run.blocks as f64,
        ms(mem_run.mine),
        ms(mem_run.mine) / mem_run.blocks as f64
    );
    println!(
        "| transfers/s (send + mine) | {:.0} | {:.0} |",
        per_second(n, run.total()),
        per_second(n, mem_run.total())
    );
    println!(
        "| transfers/s (mine only) | {:.0} | {:.0} |",
        per_second(n, run.mine),
        per_second(n, mem_run.mine)
    );
    println!(
        "signature recovery alone (decode + ecrecover): {:.0} ms for {n}, {:.3} ms each",
        ms(recovery),
        ms(recovery) / n as f64
    );
}

fn bench_instant(n: usize) {
    println!();
    println!("== instant mode: one block per transfer, {n} transfers from 20 dev accounts ==");
    let dir = tempfile::tempdir().unwrap();
    let sled: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());
    let chain = open(sled, BlockTime::Instant, 20);
    let raws = transfers(chain.dev_accounts(), n);
    let started = Instant::now();
    for raw in &raws {
        chain.send_raw(raw).unwrap();
    }
    let sled_time = started.elapsed();
    assert_eq!(chain.head().number, n as u64);

    let memory = open(Arc::new(MemoryStorage::new()), BlockTime::Instant, 20);
    let started = Instant::now();
    for raw in &raws {
        memory.send_raw(raw).unwrap();
    }
    let mem_time = started.elapsed();

    println!("| store | per transfer (= per block) | transfers/s |");
    println!("|---|---|---|");
    println!(
        "| sled (durable) | {:.2} ms | {:.0} |",
        ms(sled_time) / n as f64,
        per_second(n, sled_time)
    );
    println!(
        "| in memory | {:.2} ms | {:.0} |",
        ms(mem_time) / n as f64,
        per_second(n, mem_time)
    );
}

/// Sends one transaction and mines it; returns its receipt's contract address or panics.
fn deploy(chain: &EmbeddedChain, from: &DevAccount, nonce: u64, code: Vec<u8>) -> Address {
    let call = Call {
        from: Some(from.address),
        to: None,
        input: code.clone().into(),
        value: U256::ZERO,
        gas: None,
    };
    let gas = chain.estimate_gas(&call).unwrap();
    let hash = chain
        .send_raw(&signed(
            from,
            nonce,
            TxKind::Create,
            U256::ZERO,
            code.into(),
            gas,
        ))
        .unwrap();
    chain.mine().unwrap();
    let receipt = chain.receipt(hash).unwrap().unwrap();
    assert!(receipt.success, "deploying: {receipt:?}");
    receipt.contract_address.unwrap()
}

/// A commit run: its times, every commit's gas (sorted) and one transaction's gas limit
/// and size.
struct Commits {
    run: Batch,
    gas: Vec<u64>,
    gas_limit: u64,
    size: usize,
}

/// Deploys the settlement contracts on a chain over `storage` and sends `n` valid
/// commits.
fn commit_run(storage: Arc<dyn Storage>, n: usize) -> Commits {
    let chain = open(storage, batched(), 1);
    let operator = chain.dev_accounts()[0].clone();

    // PoseidonT5, a PrecompileVerifier (any digest: nothing is proven here), and a
    // one-chain Primary whose governor and operator is the dev account.
    let chains = ChainSet::local(1);
    let mut state = L2State::new(chains);
    let genesis_root = state.root();
    let poseidon = deploy(
        &chain,
        &operator,
        0,
        Artifact::PoseidonT5.bytecode().to_vec(),
    );
    let mut code = Artifact::PrecompileVerifier.bytecode().to_vec();
    code.extend((B256::repeat_byte(0x11),).abi_encode_params());
    let verifier = deploy(&chain, &operator, 1, code);
    let config = Primary::SettlementConfig {
        chainId: 0,
        governor: operator.address,
        operator: operator.address,
        priorityExpiry: 86_400,
        attestationDomain: B256::repeat_byte(0xd0),
        validators: vec![Address::repeat_byte(0x0a)],
        threshold: U256::from(1u64),
        genesisStateRoot: fr_to_b256(&genesis_root),
        governanceDelay: 86_400,
        priorityFee: U256::ZERO,
        maxOpenPriorityRequests: 64,
    };
    let mut code = Artifact::Primary.bytecode().to_vec();
    code.extend((config, 1u16, verifier, poseidon, B256::ZERO).abi_encode_params());
    let primary = deploy(&chain, &operator, 2, code);

    // One valid commit after another: the bookkeeping follows what the contract stores.
    let mut books =
        PrimaryBookkeeping::genesis(ChainId::new(0).unwrap(), 1, genesis_root, Fr::from(0u64));
    let mut calls = Vec::with_capacity(n);
    for number in 1..=n as u32 {
        let ops: Vec<_> = (0..OPS_PER_COMMIT)
            .map(|_| state.apply(&Op::Noop).unwrap().pubdata)
            .collect();
        let commit = books
            .commit(&SettlementBlock {
                number,
                timestamp: 1_700_000_000 + u64::from(number),
                state_root: state.root(),
                ops: &ops,
                change_pubkey_signatures: &[],
            })
            .unwrap();
        calls.push(
            Primary::commitBlocksCall {
                last: commit.previous.into(),
                lastSyncHashes: commit.previous_sync_hashes.clone(),
                blocks: vec![commit.block.clone()],
            }
            .abi_encode(),
        );
    }
    // Every commit does the same work; the first's estimate, with a margin, is each one's
    // gas limit (blocks are packed by gas limit).
    let estimate = chain
        .estimate_gas(&Call {
            from: Some(operator.address),
            to: Some(primary),
            input: calls[0].clone().into(),
            value: U256::ZERO,
            gas: None,
        })
        .unwrap();
    let gas_limit = estimate + estimate / 10;
    let raws: Vec<Bytes> = calls
        .into_iter()
        .enumerate()
        .map(|(i, input)| {
            signed(
                &operator,
                3 + i as u64,
                TxKind::Call(primary),
                U256::ZERO,
                input.into(),
                gas_limit,
            )
        })
        .collect();
    let size = raws[0].len();

    // One sender: at most PER_SENDER of its transactions wait in the pool, so each round
    // sends that many and mines them.
    let run = send_and_mine(&chain, &raws, PER_SENDER);
    let mut gas = Vec::with_capacity(n);
    for hash in &run.hashes {
        let receipt = chain.receipt(*hash).unwrap().unwrap();
        assert!(receipt.success, "commitBlocks: {receipt:?}");
        gas.push(receipt.gas_used);
    }
    let committed = chain
        .call(
            &Call {
                from: None,
                to: Some(primary),
                input: Primary::totalBlocksCommittedCall {}.abi_encode().into(),
                value: U256::ZERO,
                gas: None,
            },
            BlockId::Tag(BlockTag::Latest),
        )
        .unwrap();
    let committed = Primary::totalBlocksCommittedCall::abi_decode_returns(&committed).unwrap();
    assert_eq!(committed as usize, n, "every block committed");
    gas.sort_unstable();
    Commits {
        run,
        gas,
        gas_limit,
        size,
    }
}

fn bench_commits(n: usize) {
    println!();
    println!(
        "== Primary.commitBlocks: {n} calls from the operator, each committing one L2 block of {OPS_PER_COMMIT} Noop ops, sent {PER_SENDER} at a time, each round mined =="
    );
    let dir = tempfile::tempdir().unwrap();
    let sled = commit_run(Arc::new(SledStorage::open(dir.path()).unwrap()), n);
    let memory = commit_run(Arc::new(MemoryStorage::new()), n);
    assert_eq!(sled.gas, memory.gas);
    let (run, gas) = (&sled.run, &sled.gas);
    let gas_total: u64 = gas.iter().sum();
    println!(
        "valid commits (PrimaryBookkeeping), all {n} blocks committed (totalBlocksCommitted); each transaction {} bytes signed, gas limit {}",
        sled.size, sled.gas_limit
    );
    println!(
        "gas per commit: {} (min {}, max {}); {} blocks, {:.0} commits and {:.1} Mgas each",
        gas_total / n as u64,
        gas[0],
        gas[n - 1],
        run.blocks,
        n as f64 / run.blocks as f64,
        gas_total as f64 / run.blocks as f64 / 1e6
    );
    println!("| figure | sled (durable) | in memory |");
    println!("|---|---|---|");
    let both = |what: &str, f: &dyn Fn(&Batch) -> String| {
        println!("| {what} | {} | {} |", f(&sled.run), f(&memory.run));
    };
    both(&format!("send_raw, all {n}"), &|r| {
        format!(
            "{:.0} ms ({:.2} ms each)",
            ms(r.send),
            ms(r.send) / n as f64
        )
    });
    both("mine", &|r| {
        format!(
            "{:.0} ms ({:.1} ms per block, {:.2} ms per commit)",
            ms(r.mine),
            ms(r.mine) / r.blocks as f64,
            ms(r.mine) / n as f64
        )
    });
    both("commits/s (send + mine)", &|r| {
        format!("{:.0}", per_second(n, r.total()))
    });
    both("commits/s (mine only)", &|r| {
        format!("{:.0}", per_second(n, r.mine))
    });
    both("execution rate while mining", &|r| {
        format!(
            "{:.0} Mgas/s",
            gas_total as f64 / r.mine.as_secs_f64() / 1e6
        )
    });
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    bench_transfers(arg(0, 2000));
    bench_commits(arg(1, 300));
    bench_instant(arg(2, 300));
}
