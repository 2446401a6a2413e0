//! The wallet's commands end to end against a real EVM chain (anvil, with a Secondary
//! settlement contract deployed on it) and a stand-in node: a JSON-RPC server answering
//! the node's methods from a small in-memory model of accounts and a mempool that checks
//! every signature as the node would.
//!
//! The devnet end-to-end test (a real node, its embedded chains, settlement) lives with
//! the node; this one pins the wallet's own behaviour: what it signs and sends, what it
//! prints on stdout, and its errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alloy_consensus::TxEip1559;
use alloy_primitives::{Address, TxKind, B256, U256};
use alloy_sol_types::{SolCall, SolValue};
use clap::{CommandFactory, FromArgMatches, Parser};
use jsonrpsee::server::{Server, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::RpcModule;
use manyfold_chain::{BlockId, BlockTag, CallRequest, ChainReader, ChainSender};
use manyfold_chain_conformance::anvil::Anvil;
use manyfold_chain_evm::{EvmChain, EvmConfig};
use manyfold_contracts::bindings::{Artifact, Secondary};
use manyfold_sender::{LocalSigner, TxSigner};
use manyfold_types::ecdsa::recover_change_pubkey_signer;
use manyfold_types::{ChainDomain, L2Tx, Nonce, PubKeyHash};
use manyfold_wallet::keys::{EthKey, DEV_MNEMONIC};
use manyfold_wallet::{WalletArgs, WalletError};
use serde_json::{json, Value};

const PRIORITY_FEE: u64 = 1_000;
/// The primary's domain in the stand-in node's chain list (nothing is deployed there).
const PRIMARY_EVM_CHAIN_ID: u64 = 900;
const PRIMARY_SETTLEMENT: Address = Address::repeat_byte(0xaa);

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(clap::Subcommand)]
enum Top {
    Wallet(WalletArgs),
}

fn args(node: &str, words: &[&str]) -> WalletArgs {
    let argv = ["manyfold", "wallet", "--node", node]
        .into_iter()
        .chain(words.iter().copied());
    let matches = Cli::command().try_get_matches_from(argv).unwrap();
    let Top::Wallet(args) = Cli::from_arg_matches(&matches).unwrap().command;
    args
}

/// Runs a command; its stdout, or its error.
async fn wallet(node: &str, words: &[&str]) -> Result<String, WalletError> {
    let mut out = Vec::new();
    manyfold_wallet::run_async(args(node, words), &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

fn dev(index: u32) -> EthKey {
    EthKey::dev(DEV_MNEMONIC, index).unwrap()
}

// ---------------------------------------------------------------------- the chain

/// Sends a transaction from dev account 9 and waits for its receipt; the created
/// contract's address for a deployment.
async fn send(chain: &EvmChain, to: TxKind, input: Vec<u8>) -> Option<Address> {
    let signer = LocalSigner::from_bytes(
        &manyfold_wallet::keys::dev_secret(DEV_MNEMONIC, 9)
            .unwrap()
            .0,
    )
    .unwrap();
    let nonce = chain
        .nonce(signer.address(), BlockId::Tag(BlockTag::Latest))
        .await
        .unwrap();
    let tx = TxEip1559 {
        chain_id: 31_337,
        nonce,
        gas_limit: 9_000_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to,
        value: U256::ZERO,
        access_list: Default::default(),
        input: input.into(),
    };
    let hash = chain.send_raw(signer.sign(&tx).unwrap().raw).await.unwrap();
    loop {
        if let Some(receipt) = chain.receipt(hash).await.unwrap() {
            assert!(receipt.success, "reverted: {receipt:?}");
            return receipt.contract_address;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A Secondary for L2 chain 1 (primary 0), with the native coin as token 0.
async fn deploy(chain: &EvmChain) -> Address {
    deploy_expiring(chain, 3_600).await
}

/// [`deploy`], its priority requests expiring after `expiry` seconds.
async fn deploy_expiring(chain: &EvmChain, expiry: u64) -> Address {
    let governor = dev(9).address();
    let config = Secondary::SettlementConfig {
        chainId: 1,
        governor,
        operator: governor,
        priorityExpiry: expiry,
        attestationDomain: B256::repeat_byte(0x42),
        validators: vec![governor],
        threshold: U256::from(1),
        genesisStateRoot: B256::repeat_byte(1),
        governanceDelay: expiry,
        priorityFee: U256::from(PRIORITY_FEE),
        maxOpenPriorityRequests: 100,
    };
    let mut code = Artifact::Secondary.bytecode().to_vec();
    code.extend((config, 0u16).abi_encode_params());
    let contract = send(chain, TxKind::Create, code).await.expect("created");
    let add = Secondary::addTokenCall {
        tokenId: 0,
        token: Address::ZERO,
        decimals: 18,
        minDeposit: 1,
    };
    send(chain, TxKind::Call(contract), add.abi_encode()).await;
    contract
}

async fn read<C: SolCall>(chain: &EvmChain, to: Address, call: C) -> C::Return {
    let bytes = chain
        .call(
            CallRequest::new(to, call.abi_encode()),
            BlockId::Tag(BlockTag::Latest),
        )
        .await
        .unwrap();
    C::abi_decode_returns(&bytes).unwrap()
}

// ---------------------------------------------------------------------- the node

#[derive(Debug, Clone)]
struct Account {
    id: u32,
    address: Address,
    /// As sealed: what `getAccount` serves.
    nonce: u32,
    pubkey_hash: PubKeyHash,
    balance: u128,
}

/// Accounts as sealed, and the mempool's queue on top (as the node: `getAccount` shows the
/// sealed state, the mempool expects the next nonce after the queued transactions).
#[derive(Debug, Default)]
struct Model {
    accounts: Vec<Account>,
    queued: Vec<L2Tx>,
    /// Transactions in blocks.
    sealed: Vec<L2Tx>,
    /// Status polls so far: each one advances the block one stage.
    polls: usize,
    domains: HashMap<u16, ChainDomain>,
}

impl Model {
    fn by_address(&self, address: Address) -> Option<&Account> {
        self.accounts.iter().find(|a| a.address == address)
    }

    fn queued_for(&self, id: u32) -> Vec<&L2Tx> {
        self.queued
            .iter()
            .filter(|t| t.account().get() == id)
            .collect()
    }

    /// Validates as the mempool does: nonce after the queue, key and signatures.
    fn submit(&mut self, tx: L2Tx) -> Result<B256, String> {
        let id = tx.account().get();
        let account = self
            .accounts
            .iter()
            .find(|a| a.id == id)
            .cloned()
            .ok_or("no such account")?;
        let queue = self.queued_for(id);
        let expected = account.nonce + queue.len() as u32;
        if tx.nonce() != Nonce(expected) {
            return Err(if tx.nonce().0 < expected {
                format!(
                    "nonce {} of account {id} is already used; next is {expected}",
                    tx.nonce()
                )
            } else {
                format!(
                    "nonce {} of account {id} leaves a gap; next is {expected}",
                    tx.nonce()
                )
            });
        }
        let key = queue
            .iter()
            .rev()
            .find_map(|t| match t {
                L2Tx::ChangePubKey(c) => Some(c.pubkey_hash),
                _ => None,
            })
            .unwrap_or(account.pubkey_hash);
        match &tx {
            L2Tx::ChangePubKey(c) => {
                let domain = self.domains[&c.chain.get()];
                let signer = recover_change_pubkey_signer(
                    &domain,
                    &c.eth_signature,
                    c.pubkey_hash,
                    c.nonce,
                    c.account,
                )
                .map_err(|e| e.to_string())?;
                if signer != account.address {
                    return Err(format!("ChangePubKey signed by {signer}, not the owner"));
                }
            }
            L2Tx::Transfer(t) => {
                if t.public_key.hash() != key
                    || !t.public_key.verify(t.body.message(), &t.signature)
                {
                    return Err("bad transfer signature".into());
                }
            }
            L2Tx::Withdraw(w) => {
                if w.public_key.hash() != key
                    || !w.public_key.verify(w.body.message(), &w.signature)
                {
                    return Err("bad withdraw signature".into());
                }
            }
        }
        self.queued.push(tx);
        Ok(tx.hash())
    }

    fn view(&self, account: &Account) -> Value {
        json!({
            "id": format!("{:#x}", account.id),
            "address": account.address,
            "pubkeyHash": account.pubkey_hash,
            "nonce": account.nonce,
            "balances": {"0x0": format!("{:#x}", account.balance)},
            "proof": null,
        })
    }
}

fn refused(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32000, message.into(), None::<()>)
}

async fn node(chains: Value, model: Arc<Mutex<Model>>) -> (String, ServerHandle) {
    let mut module = RpcModule::new(model);
    module
        .register_method("manyfold_chains", move |_, _, _| {
            Ok::<_, ErrorObjectOwned>(chains.clone())
        })
        .unwrap();
    module
        .register_method("manyfold_getAccount", |params, model, _| {
            let (who,): (String,) = params.parse()?;
            let model = model.lock().unwrap();
            let account = if who.len() == 42 {
                model.by_address(who.parse().unwrap()).cloned()
            } else {
                let id = u32::from_str_radix(who.trim_start_matches("0x"), 16).unwrap();
                model.accounts.iter().find(|a| a.id == id).cloned()
            };
            Ok::<_, ErrorObjectOwned>(account.map_or(Value::Null, |a| model.view(&a)))
        })
        .unwrap();
    module
        .register_method("manyfold_sendTransaction", |params, model, _| {
            let (tx,): (L2Tx,) = params.parse()?;
            model.lock().unwrap().submit(tx).map_err(refused)
        })
        .unwrap();
    module
        .register_method("manyfold_getTransactionReceipt", |params, model, _| {
            let (hash,): (B256,) = params.parse()?;
            let model = model.lock().unwrap();
            let known = model.queued.iter().chain(&model.sealed).any(|t| t.hash() == hash);
            Ok::<_, ErrorObjectOwned>(if known {
                json!({"txHash": hash, "blockNumber": "0x7", "index": "0x0", "status": "included", "error": null})
            } else {
                Value::Null
            })
        })
        .unwrap();
    module
        .register_method("manyfold_getSettlementStatus", |params, model, _| {
            let (tag,): (String,) = params.parse()?;
            let mut model = model.lock().unwrap();
            model.polls += 1;
            let stages = ["sealed", "committed", "proven", "synchronized", "executed"];
            let at = |extra: usize| stages[(model.polls * 2 + extra).min(4)];
            Ok::<_, ErrorObjectOwned>(json!({
                "number": if tag == "latest" { "0x7".to_owned() } else { tag },
                "hash": B256::repeat_byte(7),
                "chains": [
                    {"chain": "0x0", "stage": at(1)},
                    {"chain": "0x1", "stage": at(0)},
                ]
            }))
        })
        .unwrap();
    let server = Server::builder().build("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    (url, server.start(module))
}

fn model(secondary: Address) -> Model {
    let account = |id: u32, key: EthKey, balance: u128| Account {
        id,
        address: key.address(),
        nonce: 0,
        pubkey_hash: PubKeyHash::NONE,
        balance,
    };
    Model {
        accounts: vec![
            account(1, dev(0), 5 * 10u128.pow(18)),
            account(2, dev(1), 0),
        ],
        domains: HashMap::from([
            (
                0,
                ChainDomain {
                    evm_chain_id: PRIMARY_EVM_CHAIN_ID,
                    settlement: PRIMARY_SETTLEMENT,
                },
            ),
            (
                1,
                ChainDomain {
                    evm_chain_id: 31_337,
                    settlement: secondary,
                },
            ),
        ]),
        ..Model::default()
    }
}

fn chains(anvil: &str, secondary: Address) -> Value {
    json!([
        {"id": "0x0", "name": "primary", "kind": "embedded", "primary": true,
         "evmChainId": PRIMARY_EVM_CHAIN_ID, "settlement": PRIMARY_SETTLEMENT},
        {"id": "0x1", "name": "alpha", "kind": "evm", "primary": false,
         "evmChainId": "0x7a69", "settlement": secondary, "rpcUrl": anvil,
         "tokens": [{"id": 0, "address": Address::ZERO, "decimals": 18}]},
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_against_anvil_and_a_stand_in_node() {
    let anvil = Anvil::start(&[]);
    let chain = EvmChain::connect(EvmConfig::new("alpha", anvil.url.parse().unwrap()))
        .await
        .unwrap();
    let secondary = deploy(&chain).await;
    let state = Arc::new(Mutex::new(model(secondary)));
    let (url, _server) = node(chains(&anvil.url, secondary), state.clone()).await;
    let alice = dev(0);
    let bob = dev(1);

    // deposit: the native coin, 1.5 plus the priority fee; stdout is the hash alone.
    let out = wallet(
        &url,
        &[
            "deposit",
            "--no-wait",
            "--chain",
            "alpha",
            "--token",
            "eth",
            "--amount",
            "1.5",
            "--dev",
            "0",
        ],
    )
    .await
    .unwrap();
    let hash: B256 = out
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("stdout is a hash: {out:?}"));
    assert!(chain.receipt(hash).await.unwrap().unwrap().success);
    let request = read(
        &chain,
        secondary,
        Secondary::priorityRequestCall { serialId: 0 },
    )
    .await;
    assert_eq!(request.owner, alice.address());
    assert_eq!(request.amount, 15 * 10u128.pow(17));
    assert_eq!(request.token, 0);
    // ... and for another owner, with `--to`, by token id, through the blocking `run`.
    let node_url = url.clone();
    let to = bob.address().to_string();
    let out = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        manyfold_wallet::run(
            args(
                &node_url,
                &[
                    "deposit",
                    "--no-wait",
                    "--chain",
                    "alpha",
                    "--token",
                    "0",
                    "--amount",
                    "0.25",
                    "--to",
                    &to,
                    "--from",
                    "dev0",
                ],
            ),
            &mut out,
        )
        .map(|()| String::from_utf8(out).unwrap())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.lines().count(), 1, "{out:?}");
    let request = read(
        &chain,
        secondary,
        Secondary::priorityRequestCall { serialId: 1 },
    )
    .await;
    assert_eq!(
        (request.owner, request.amount),
        (bob.address(), 25 * 10u128.pow(16))
    );

    // Deposit errors name what is wrong.
    let err = wallet(
        &url,
        &[
            "deposit",
            "--no-wait",
            "--chain",
            "gamma",
            "--token",
            "eth",
            "--amount",
            "1",
            "--dev",
            "0",
        ],
    )
    .await
    .unwrap_err()
    .to_string();
    assert_eq!(err, "unknown chain `gamma`; the chains are primary, alpha");
    let err = wallet(
        &url,
        &[
            "deposit",
            "--no-wait",
            "--chain",
            "alpha",
            "--token",
            "eth",
            "--amount",
            "0.0000000000000000001",
            "--dev",
            "0",
        ],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("has 19 decimals, but token 0 on chain alpha has 18"),
        "{err}"
    );
    let err = wallet(
        &url,
        &[
            "deposit",
            "--no-wait",
            "--chain",
            "alpha",
            "--token",
            "3",
            "--amount",
            "1",
            "--dev",
            "0",
        ],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("token 3 is not registered on chain alpha"),
        "{err}"
    );
    let err = wallet(
        &url,
        &[
            "deposit",
            "--no-wait",
            "--chain",
            "primary",
            "--token",
            "eth",
            "--amount",
            "1",
            "--dev",
            "0",
        ],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("--chain-rpc primary=URL"), "{err}");
    let err = wallet(
        &url,
        &[
            "deposit",
            "--no-wait",
            "--chain",
            "alpha",
            "--token",
            "eth",
            "--amount",
            "1",
        ],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("--dev N"), "{err}");

    // claim: nothing is claimable before a withdrawal executes.
    let err = wallet(
        &url,
        &["claim", "--chain", "alpha", "--token", "eth", "--dev", "0"],
    )
    .await
    .unwrap_err();
    assert!(matches!(err, WalletError::NothingToClaim { .. }), "{err}");
    assert!(err.to_string().contains("not executed there yet"), "{err}");

    // transfer: no key yet, so the wallet registers it first (ChangePubKey at nonce 0,
    // checked on the primary), then transfers at nonce 1.
    let out = wallet(
        &url,
        &[
            "transfer",
            "--to",
            &bob.address().to_string(),
            "--token",
            "0",
            "--amount",
            "1.25",
            "--dev",
            "0",
        ],
    )
    .await
    .unwrap();
    let transfer_hash: B256 = out.trim().parse().unwrap();
    {
        let model = state.lock().unwrap();
        assert_eq!(model.queued.len(), 2);
        let L2Tx::ChangePubKey(c) = model.queued[0] else {
            panic!("{:?}", model.queued[0])
        };
        assert_eq!((c.nonce, c.chain.get()), (Nonce(0), 0));
        let l2 = alice.l2_key(&model.domains[&0]);
        assert_eq!(c.pubkey_hash, l2.public_key().hash());
        let L2Tx::Transfer(t) = model.queued[1] else {
            panic!("{:?}", model.queued[1])
        };
        assert_eq!(
            (t.body.from.get(), t.body.to.get(), t.body.nonce),
            (1, 2, Nonce(1))
        );
        assert_eq!(t.body.amount.0, 125 * 10u128.pow(16));
        assert_eq!(model.queued[1].hash(), transfer_hash);
    }

    // Before those are sealed, another transfer: the sealed state still shows no key and
    // nonce 0; the mempool names the next nonce, and the wallet uses it.
    wallet(
        &url,
        &[
            "transfer", "--to", "2", "--token", "0", "--amount", "0.5", "--dev", "0",
        ],
    )
    .await
    .unwrap();
    {
        let mut model = state.lock().unwrap();
        let nonces: Vec<u32> = model.queued.iter().map(|t| t.nonce().0).collect();
        assert_eq!(nonces, [0, 1, 2, 3]);
        // Seal the queue: the key registered, nonces used.
        let pkh = match model.queued[0] {
            L2Tx::ChangePubKey(c) => c.pubkey_hash,
            _ => unreachable!(),
        };
        model.accounts[0].pubkey_hash = pkh;
        model.accounts[0].nonce = 4;
        let sealed: Vec<L2Tx> = model.queued.drain(..).collect();
        model.sealed.extend(sealed);
    }

    // Transfer errors.
    let err = wallet(
        &url,
        &[
            "transfer",
            "--to",
            &dev(5).address().to_string(),
            "--token",
            "0",
            "--amount",
            "1",
            "--dev",
            "0",
        ],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("has no L2 account"), "{err}");
    let err = wallet(
        &url,
        &[
            "transfer", "--to", "2", "--token", "0", "--amount", "6", "--dev", "0",
        ],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("holds 5 of token 0, less than 6"), "{err}");
    let err = wallet(
        &url,
        &[
            "transfer", "--to", "1", "--token", "0", "--amount", "1", "--dev", "5",
        ],
    )
    .await
    .unwrap_err();
    assert!(matches!(err, WalletError::NoAccount { .. }), "{err}");
    assert!(err.to_string().contains("deposit first"), "{err}");

    // register: already this wallet's key, so nothing is sent and stdout stays empty.
    let out = wallet(&url, &["register", "--dev", "0"]).await.unwrap();
    assert_eq!(out, "");

    // withdraw --wait: the hash on stdout; waits until chain alpha has executed the block.
    let out = wallet(
        &url,
        &[
            "withdraw", "--chain", "alpha", "--token", "eth", "--amount", "0.5", "--wait", "--dev",
            "0",
        ],
    )
    .await
    .unwrap();
    let withdraw_hash: B256 = out.trim().parse().unwrap();
    {
        let model = state.lock().unwrap();
        let last = model.queued.last().unwrap();
        assert_eq!(last.hash(), withdraw_hash);
        let L2Tx::Withdraw(w) = last else {
            panic!("{last:?}")
        };
        assert_eq!(
            (w.body.chain.get(), w.body.to, w.body.nonce),
            (1, alice.address(), Nonce(4))
        );
        assert!(model.polls >= 2, "it polled until executed");
    }
    let err = wallet(
        &url,
        &[
            "withdraw", "--chain", "alpha", "--token", "7", "--amount", "1", "--dev", "0",
        ],
    )
    .await
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "token 7 is not registered on chain alpha (its tokens: 0)"
    );

    // status of a transaction (the node has no getTransactionStatus: the receipt's block).
    let out = wallet(&url, &["status", &format!("{withdraw_hash}")])
        .await
        .unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("transaction {withdraw_hash} included in block 7")
    );
    assert!(lines[1].starts_with("block 7 0x0707"), "{out}");
    assert!(lines[2].starts_with("primary  "), "{out}");
    assert!(lines[3].starts_with("alpha  "), "{out}");
    let json: Value =
        serde_json::from_str(&wallet(&url, &["status", "7", "--json"]).await.unwrap()).unwrap();
    assert_eq!(json["block"], 7);
    assert_eq!(json["chains"][1]["chain"], "alpha");
    assert_eq!(json["chains"][1]["id"], 1);
    assert_eq!(json["chains"][1]["stage"], "executed");

    // balance: L2 and, on alpha (the chain with an endpoint), native and claimable.
    let json: Value = serde_json::from_str(
        &wallet(&url, &["balance", "--json", "--dev", "0"])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["address"], json!(alice.address()));
    assert_eq!(json["l2"]["account"], 1);
    assert_eq!(json["l2"]["balances"]["0"], "5");
    assert_eq!(json["l2"]["keyIsThisWallets"], true);
    assert_eq!(json["chains"][0]["name"], "primary");
    assert!(json["chains"][0]["note"]
        .as_str()
        .unwrap()
        .contains("--chain-rpc primary=URL"));
    let native: f64 = json["chains"][1]["native"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(native > 9_990.0 && native < 10_000.0, "{json}");
    assert_eq!(json["chains"][1]["claimable"], json!({}));
    let text = wallet(&url, &["balance", "--address", &bob.address().to_string()])
        .await
        .unwrap();
    assert!(
        text.contains("L2 account 2: nonce 0, no L2 key registered"),
        "{text}"
    );
    assert!(text.contains("chain alpha (id 1): native 10000"), "{text}");
    let err = wallet(&url, &["balance"]).await.unwrap_err().to_string();
    assert!(err.contains("--address"), "{err}");

    // A node that is not there.
    let err = wallet("http://127.0.0.1:1", &["balance", "--dev", "0"])
        .await
        .unwrap_err();
    assert!(matches!(err, WalletError::Node { .. }), "{err}");
}

/// Exodus on a secondary nobody serves, with the node not there at all (the deployment
/// file and the endpoint are enough): refused until the deposit expires, activated once,
/// the deposit refunded once and claimed; `exit` wants the primary in exodus mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exodus_activates_on_expiry_and_refunds_each_deposit_once() {
    let anvil = Anvil::start(&[]);
    let chain = EvmChain::connect(EvmConfig::new("alpha", anvil.url.parse().unwrap()))
        .await
        .unwrap();
    let secondary = deploy_expiring(&chain, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let deployment = dir.path().join("deployment.json");
    std::fs::write(
        &deployment,
        json!({"chains": {
            "primary": {"id": 0, "evm_chain_id": PRIMARY_EVM_CHAIN_ID, "primary": true,
                        "settlement": PRIMARY_SETTLEMENT},
            "alpha": {"id": 1, "evm_chain_id": 31_337, "settlement": secondary, "from_block": 1,
                      "tokens": [{"id": 0, "address": Address::ZERO, "decimals": 18}]},
        }})
        .to_string(),
    )
    .unwrap();
    let gone = "http://127.0.0.1:1";
    let file = deployment.to_str().unwrap();
    let endpoint = format!("alpha={}", anvil.url);
    let run = |words: &[&str]| {
        let mut all = vec!["--deployment", file, "--chain-rpc", &endpoint, "--dev", "0"];
        all.extend_from_slice(words);
        let all: Vec<String> = all.iter().map(|w| w.to_string()).collect();
        async move {
            let words: Vec<&str> = all.iter().map(String::as_str).collect();
            wallet(gone, &words).await.map_err(|e| e.to_string())
        }
    };

    let err = run(&["exodus", "--chain", "alpha"]).await.unwrap_err();
    assert!(err.contains("no priority request is waiting"), "{err}");
    let out = run(&[
        "deposit",
        "--no-wait",
        "--chain",
        "alpha",
        "--token",
        "0",
        "--amount",
        "0.5",
    ])
    .await
    .unwrap();
    assert!(out.trim().parse::<B256>().is_ok(), "{out}");
    let err = run(&["refund", "--chain", "alpha"]).await.unwrap_err();
    assert!(err.contains("not in exodus mode"), "{err}");
    let err = run(&["exodus", "--chain", "alpha"]).await.unwrap_err();
    assert!(err.contains("cannot enter exodus mode yet"), "{err}");

    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let out = run(&["exodus", "--chain", "alpha"]).await.unwrap();
    assert!(out.trim().parse::<B256>().is_ok(), "{out}");
    assert!(read(&chain, secondary, Secondary::exodusModeCall {}).await);
    // Once is enough: nothing sent, no error.
    assert_eq!(run(&["exodus", "--chain", "alpha"]).await.unwrap(), "");

    let out = run(&["refund", "--chain", "alpha"]).await.unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    let err = run(&["refund", "--chain", "alpha"]).await.unwrap_err();
    assert!(err.contains("refunded already"), "{err}");
    let pending = read(
        &chain,
        secondary,
        Secondary::pendingBalancesCall {
            _0: dev(0).address(),
            _1: 0,
        },
    )
    .await;
    assert_eq!(pending, U256::from(5 * 10u128.pow(17)));
    run(&["claim", "--chain", "alpha", "--token", "0"])
        .await
        .unwrap();

    // The primary of this deployment has no endpoint: exit says how to give one.
    let err = run(&["exit"]).await.unwrap_err();
    assert!(err.contains("--chain-rpc primary=URL"), "{err}");
}
