//! The Solidity constants and the shared test vectors are generated from Rust; these tests
//! fail when a committed copy differs from what the code generates now, so neither can
//! drift from the node. `MANYFOLD_BLESS=1 cargo test -p manyfold-contracts --test generated`
//! rewrites them.

use std::path::Path;

fn check_or_bless(relative: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    if std::env::var_os("MANYFOLD_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; generate it with MANYFOLD_BLESS=1", path.display()));
    assert!(
        committed == generated,
        "{} is stale: regenerate it with `MANYFOLD_BLESS=1 cargo test -p manyfold-contracts --test generated`",
        path.display()
    );
}

#[test]
fn poseidon_constants_are_current() {
    check_or_bless(
        manyfold_contracts::poseidon::CONSTANTS_SOL_PATH,
        &manyfold_contracts::poseidon::constants_solidity(),
    );
}

mod vectors {
    use alloy_primitives::{hex, B256};
    use alloy_sol_types::SolCall;
    use manyfold_contracts::attestation::{attestation_digest, AttestationKind, Receiver};
    use manyfold_contracts::bindings::{Primary, Secondary};
    use manyfold_contracts::poseidon::{tag, CONTRACT_TAGS};
    use manyfold_contracts::settlement::{
        PrimaryBookkeeping, SecondaryBookkeeping, SettlementBlock,
    };
    use manyfold_state::hashes::{ops_hash, SyncHashes, EMPTY};
    use manyfold_state::testing::{Action, Scenario};
    use manyfold_state::L2State;
    use manyfold_types::field::{fr_from_u128, fr_to_be_bytes};
    use manyfold_types::poseidon::hash;
    use manyfold_types::pubdata::extend_commitment;
    use manyfold_types::{ChainDomain, ChainId, ChainSet, Fr, Op, OpPubdata, TokenId};
    use rand::SeedableRng;
    use serde_json::{json, Value};

    pub(super) const PATH: &str = "solidity/test/vectors/block-hashes.json";
    const CHAINS: u16 = 3;
    /// Token 0 is each chain's native coin; token 1 an 18-decimal ERC-20.
    const TOKENS: u16 = 2;
    const RANDOM_BLOCKS: usize = 6;
    const RANDOM_BLOCK_OPS: usize = 12;

    fn fr(x: &Fr) -> String {
        format!("0x{}", hex::encode(fr_to_be_bytes(x)))
    }

    fn b256(x: &B256) -> String {
        format!("0x{}", hex::encode(x))
    }

    fn eth(units: u128) -> u128 {
        units * 1_000_000_000_000_000_000
    }

    /// Three chains (0 primary, 1 and 2 secondaries) and blocks built by the real state
    /// machine: first deposits and key registrations; a transfer, withdrawals to two
    /// chains and a full exit; a block that touches no chain; then random valid blocks.
    pub(super) fn generate() -> String {
        let mut scenario = Scenario::new(4, CHAINS, TOKENS);
        // Each chain's contract where the forge test deploys it (not the local set's
        // placeholder addresses 0x…01-0x…03: those are precompiles), on its own EVM chain id.
        let chain_set = ChainSet::new(
            (0..CHAINS)
                .map(|c| ChainDomain {
                    evm_chain_id: 31_337 + u64::from(c),
                    settlement: alloy_primitives::Address::repeat_byte(0xa0 + c as u8),
                })
                .collect(),
        )
        .expect("three chains");
        let mut state = L2State::new(chain_set.clone());
        let blocks_actions: Vec<Vec<Action>> = vec![
            vec![
                Action::Deposit {
                    user: 0,
                    chain: 0,
                    token: 0,
                    amount: eth(100),
                },
                Action::Deposit {
                    user: 1,
                    chain: 1,
                    token: 0,
                    amount: eth(50),
                },
                Action::Deposit {
                    user: 0,
                    chain: 1,
                    token: 1,
                    amount: eth(20),
                },
                Action::ChangePubKey { user: 0, chain: 0 },
                Action::ChangePubKey { user: 1, chain: 1 },
            ],
            vec![
                Action::Transfer {
                    from: 0,
                    to: 1,
                    token: 0,
                    percent: 50,
                },
                Action::Withdraw {
                    user: 0,
                    chain: 1,
                    token: 0,
                    percent: 10,
                },
                Action::Withdraw {
                    user: 1,
                    chain: 0,
                    token: 0,
                    percent: 10,
                },
                Action::FullExit {
                    user: 1,
                    chain: 2,
                    token: 0,
                },
            ],
            vec![Action::Transfer {
                from: 1,
                to: 0,
                token: 0,
                percent: 10,
            }],
        ];
        let genesis_root = state.root();
        // What each (chain, owner) is paid once every block is executed everywhere.
        let mut payouts: std::collections::BTreeMap<(u16, String, u16), u128> = Default::default();
        let mut commitment = Fr::from(0u64);
        let mut sync = SyncHashes::genesis(CHAINS as usize);
        let mut primary_books = PrimaryBookkeeping::genesis(
            ChainId::new(0).unwrap(),
            CHAINS as usize,
            genesis_root,
            Fr::from(0u64),
        );
        let mut secondary_books: Vec<SecondaryBookkeeping> = (1..CHAINS)
            .map(|c| SecondaryBookkeeping::genesis(ChainId::new(c).unwrap(), genesis_root))
            .collect();
        let mut requests = vec![];
        let mut blocks = vec![];
        // Then random blocks of valid ops from every kind, over all three chains.
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let random_blocks = (0..RANDOM_BLOCKS).map(|_| None);
        let plan = blocks_actions.into_iter().map(Some).chain(random_blocks);
        for (index, actions) in plan.enumerate() {
            let number = index as u32 + 1;
            let random = actions.is_none();
            let mut planned = actions.unwrap_or_default().into_iter();
            let mut pubdata: Vec<OpPubdata> = vec![];
            let mut signatures: Vec<Vec<String>> = vec![vec![]; CHAINS as usize];
            let mut priority_ops = vec![0u64; CHAINS as usize];
            let mut eth_signatures = vec![];
            loop {
                let op = if random {
                    if pubdata.len() == RANDOM_BLOCK_OPS {
                        break;
                    }
                    match scenario.op(&state, scenario.random_action(&mut rng)) {
                        Some(op) => op,
                        None => continue,
                    }
                } else {
                    match planned.next() {
                        Some(action) => scenario
                            .op(&state, action)
                            .expect("the planned ops are valid here"),
                        None => break,
                    }
                };
                match &op {
                    Op::Deposit(d) => {
                        priority_ops[d.chain.get() as usize] += 1;
                        requests.push(json!({
                            "chain": d.chain.get(), "kind": "deposit", "owner": d.address.to_string(),
                            "token": d.token.get(), "amount": d.amount.0.to_string(),
                        }))
                    }
                    Op::FullExit(f) => {
                        priority_ops[f.chain.get() as usize] += 1;
                        requests.push(json!({
                            "chain": f.chain.get(), "kind": "fullExit", "owner": f.address.to_string(),
                            "token": f.token.get(), "account": f.account.get(),
                        }))
                    }
                    Op::ChangePubKey(c) => {
                        signatures[c.chain.get() as usize]
                            .push(format!("0x{}", hex::encode(c.eth_signature.0)));
                        eth_signatures.push((c.chain, c.eth_signature));
                    }
                    _ => {}
                }
                pubdata.push(state.apply(&op).expect("valid").pubdata);
            }
            for record in &pubdata {
                commitment = extend_commitment(commitment, record);
                if let OpPubdata::Withdraw {
                    chain,
                    amount,
                    address,
                    token,
                    ..
                }
                | OpPubdata::FullExit {
                    chain,
                    amount,
                    address,
                    token,
                    ..
                }
                | OpPubdata::Deposit {
                    chain,
                    amount,
                    address,
                    token,
                    refunded: true,
                    ..
                } = record
                {
                    *payouts
                        .entry((chain.get(), address.to_string(), token.get()))
                        .or_default() += amount.0;
                }
            }
            let root = state.root();
            sync.advance(number, root, &pubdata)
                .expect("chains of the set");
            // The Rust bookkeeping's prediction of what each contract stores.
            let settlement_block = SettlementBlock {
                number,
                timestamp: 1_700_000_000u64 + number as u64,
                state_root: root,
                ops: &pubdata,
                change_pubkey_signatures: &eth_signatures,
            };
            let primary_commit = primary_books.commit(&settlement_block).unwrap();
            let primary_stored = primary_commit.stored.hash();
            let primary_calldata = Primary::commitBlocksCall {
                last: primary_commit.previous.into(),
                lastSyncHashes: primary_commit.previous_sync_hashes.clone(),
                blocks: vec![primary_commit.block.clone()],
            }
            .abi_encode();
            let mut secondary_calldata: Vec<Option<String>> = vec![];
            let secondary_stored: Vec<Option<String>> = secondary_books
                .iter_mut()
                .map(|books| {
                    let commit = books.commit(&settlement_block).unwrap();
                    secondary_calldata.push(commit.as_ref().map(|c| {
                        let call = Secondary::commitCompressedBlocksCall {
                            last: c.previous.into(),
                            blocks: vec![c.block.clone()],
                        };
                        format!("0x{}", hex::encode(call.abi_encode()))
                    }));
                    commit.map(|c| b256(&c.stored.hash()))
                })
                .collect();
            let chains: Vec<ChainId> = (0..CHAINS).map(|c| ChainId::new(c).unwrap()).collect();
            blocks.push(json!({
                "number": number,
                "timestamp": 1_700_000_000u64 + number as u64,
                "newStateRoot": fr(&root),
                "pubdata": format!("0x{}", hex::encode(pubdata.iter().flat_map(|p| p.encode()).collect::<Vec<u8>>())),
                "chainOps": chains.iter().map(|c| format!("0x{}", hex::encode(
                    pubdata.iter().filter(|p| p.onchain_for() == Some(*c)).flat_map(|p| p.encode()).collect::<Vec<u8>>()
                ))).collect::<Vec<_>>(),
                "changePubKeySignatures": signatures,
                "opsHashes": chains.iter().map(|c| b256(&ops_hash(*c, &pubdata))).collect::<Vec<_>>(),
                "syncHashes": sync.0.iter().map(b256).collect::<Vec<_>>(),
                "commitment": fr(&commitment),
                "priorityOps": priority_ops,
                "primaryStoredHash": b256(&primary_stored),
                "secondaryStoredHashes": secondary_stored,
                "primaryCommitCalldata": format!("0x{}", hex::encode(primary_calldata)),
                "secondaryCommitCalldata": secondary_calldata,
            }));
        }

        // Exit proofs of one account's two tokens against the last state.
        let tokens = [TokenId::new(0).unwrap(), TokenId::new(1).unwrap()];
        let (owner, account) = scenario
            .users
            .iter()
            .filter_map(|u| Some((u.address, state.account_id_of(&u.address)?)))
            .find(|(_, id)| tokens.iter().all(|t| state.balance(*id, *t).0 > 0))
            .expect("someone holds both tokens");
        let flat = |path: &manyfold_state::tree::MerklePath| -> Vec<String> {
            path.0.iter().flatten().map(fr).collect()
        };
        let exits: Vec<Value> = tokens
            .iter()
            .map(|token| {
                let proof = state.exit_proof(account, *token);
                assert!(proof.verify(state.root()));
                json!({
                    "account": account.get(),
                    "token": token.get(),
                    "balance": state.balance(account, *token).0.to_string(),
                    "owner": owner.to_string(),
                    "pubkeyHash": fr(&proof.account.pubkey_hash.0),
                    "nonce": proof.account.nonce.0,
                    "balanceSiblings": flat(&proof.balance.path),
                    "accountSiblings": flat(&proof.account.path),
                    "reservesRoot": fr(&proof.account.reserves_root),
                    "accountCount": proof.account.account_count,
                })
            })
            .collect();
        let exit = json!({ "stateRoot": fr(&state.root()), "proofs": exits });

        let poseidon: Vec<Value> = CONTRACT_TAGS
            .iter()
            .enumerate()
            .map(|(k, (name, domain, arity))| {
                let inputs: Vec<Fr> = (0..*arity as u128).map(|i| fr_from_u128(1000 * k as u128 + i + 1)).collect();
                let mut padded: Vec<String> = inputs.iter().map(fr).collect();
                padded.resize(4, fr(&Fr::from(0u64)));
                json!({ "name": name, "tag": fr(&tag(*domain, *arity)), "inputs": padded, "output": fr(&hash(*domain, &inputs)) })
            })
            .collect();

        let domain = alloy_primitives::keccak256(b"manyfold:vectors");
        let attested = B256::repeat_byte(0xab);
        let receiver = Receiver {
            evm_chain_id: 0x4d46,
            contract: alloy_primitives::Address::repeat_byte(0x5c),
        };
        let attestation = json!({
            "domain": b256(&domain), "src": 1, "dst": 0, "kind": AttestationKind::SyncHash as u8,
            "blockNumber": 7, "hash": b256(&attested),
            "evmChainId": receiver.evm_chain_id, "receiver": receiver.contract.to_string(),
            "digest": b256(&attestation_digest(domain, receiver, 1, 0, AttestationKind::SyncHash, 7, attested)),
        });
        // Where each chain's contract must be for its ChangePubKey signatures to verify.
        let chain_domains: Vec<Value> = (0..CHAINS)
            .map(|c| {
                let d = chain_set
                    .domain(ChainId::new(c).unwrap())
                    .expect("a chain of the set");
                json!({ "evmChainId": d.evm_chain_id, "settlement": d.settlement.to_string() })
            })
            .collect();

        let vectors = json!({
            "generatedBy": "cargo test -p manyfold-contracts --test generated (MANYFOLD_BLESS=1 rewrites)",
            "chains": CHAINS,
            "chainDomains": chain_domains,
            "empty": b256(&EMPTY),
            "genesisStateRoot": fr(&genesis_root),
            "genesisCommitment": fr(&Fr::from(0u64)),
            "requestCount": requests.len(),
            "requests": requests,
            "blockCount": blocks.len(),
            "payoutCount": payouts.len(),
            "payouts": payouts.iter().map(|((chain, owner, token), amount)| json!({
                "chain": chain, "owner": owner, "token": token, "amount": amount.to_string(),
            })).collect::<Vec<_>>(),
            "blocks": blocks,
            "exit": exit,
            "poseidon": poseidon,
            "attestation": attestation,
        });
        serde_json::to_string_pretty(&vectors).unwrap() + "\n"
    }
}

#[test]
fn shared_vectors_are_current() {
    check_or_bless(vectors::PATH, &vectors::generate());
}
