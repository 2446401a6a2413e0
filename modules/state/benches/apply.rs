//! Native op application: signed transfers applied to the state, with and without a
//! durable sled commit after each block.
//!
//! `cargo bench -p manyfold-state --bench apply`; figures go to docs/benchmarks.md.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use manyfold_state::L2State;
use manyfold_storage::SledStorage;
use manyfold_types::ecdsa::{eth_address, eth_key_from_seed, sign_change_pubkey};
use manyfold_types::{
    AccountId, Amount, ChainId, ChangePubKey, Deposit, Nonce, Op, PrivateKey, TokenId, Transfer,
};

const ACCOUNTS: u32 = 1_000;

struct Fixture {
    state: L2State,
    keys: Vec<PrivateKey>,
    nonces: Vec<u32>,
    next_sender: u32,
}

impl Fixture {
    fn new() -> Self {
        let chains = manyfold_types::ChainSet::local(1);
        let mut state = L2State::new(chains.clone());
        let chain = ChainId::new(0).unwrap();
        let token = TokenId::new(0).unwrap();
        let mut keys = Vec::new();
        for i in 0..ACCOUNTS {
            let eth = eth_key_from_seed(&i.to_be_bytes());
            let l2 = PrivateKey::from_seed(&i.to_be_bytes());
            let deposit = Deposit {
                chain,
                serial_id: i as u64,
                address: eth_address(&eth),
                token,
                amount: Amount(1 << 100),
            };
            state.apply(&Op::Deposit(deposit)).unwrap();
            let account = AccountId::new(i).unwrap();
            let pubkey_hash = l2.public_key().hash();
            let domain = chains.domain(chain).unwrap();
            let eth_signature = sign_change_pubkey(domain, &eth, pubkey_hash, Nonce(0), account);
            state
                .apply(&Op::ChangePubKey(ChangePubKey {
                    account,
                    chain,
                    pubkey_hash,
                    nonce: Nonce(0),
                    eth_signature,
                }))
                .unwrap();
            keys.push(l2);
        }
        Self {
            state,
            keys,
            nonces: vec![1; ACCOUNTS as usize],
            next_sender: 0,
        }
    }

    /// The next `n` valid transfers, signed (outside the timed region).
    fn transfers(&mut self, n: usize) -> Vec<Op> {
        (0..n)
            .map(|_| {
                let from = self.next_sender;
                self.next_sender = (from + 1) % ACCOUNTS;
                let nonce = self.nonces[from as usize];
                self.nonces[from as usize] += 1;
                let t = Transfer {
                    from: AccountId::new(from).unwrap(),
                    to: AccountId::new((from + 7) % ACCOUNTS).unwrap(),
                    token: TokenId::new(0).unwrap(),
                    amount: Amount(1),
                    nonce: Nonce(nonce),
                };
                Op::Transfer(t.sign(&self.keys[from as usize]))
            })
            .collect()
    }
}

fn apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply_transfers");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for block in [16usize, 128] {
        group.throughput(Throughput::Elements(block as u64));
        let mut fixture = Fixture::new();
        group.bench_function(BenchmarkId::new("in_memory", block), |b| {
            b.iter_custom(|iters| {
                let blocks: Vec<_> = (0..iters).map(|_| fixture.transfers(block)).collect();
                let start = Instant::now();
                for ops in &blocks {
                    for op in ops {
                        fixture.state.apply(op).unwrap();
                    }
                }
                start.elapsed()
            })
        });

        let dir = tempfile::tempdir().unwrap();
        let store = SledStorage::open(dir.path()).unwrap();
        let mut fixture = Fixture::new();
        fixture.state.commit(&store).unwrap();
        group.bench_function(BenchmarkId::new("durable_commit_per_block", block), |b| {
            b.iter_custom(|iters| {
                let blocks: Vec<_> = (0..iters).map(|_| fixture.transfers(block)).collect();
                let start = Instant::now();
                for ops in &blocks {
                    for op in ops {
                        fixture.state.apply(op).unwrap();
                    }
                    fixture.state.commit(&store).unwrap();
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, apply);
criterion_main!(benches);
