//! What each command does.

mod exodus;

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolCall;
use manyfold_contracts::bindings::Primary;
use manyfold_types::ecdsa::sign_change_pubkey;
use manyfold_types::{
    Amount, ChainDomain, ChangePubKey, L2Tx, Nonce, PrivateKey, PubKeyHash, TokenId, Transfer,
    TxStatus, Withdraw,
};
use serde_json::{json, Value};

use crate::amount::{format_amount, format_l2, parse_amount, parse_l2_amount};
use crate::chains::{ChainEntry, DeploymentFile, Directory};
use crate::cli::{
    BalanceArgs, ClaimArgs, DepositArgs, Recipient, RegisterArgs, StatusArgs, StatusTarget,
    TokenSpec, TransferArgs, WalletArgs, WalletCommand, WithdrawArgs,
};
use crate::error::{Result, WalletError};
use crate::keys::EthKey;
use crate::l1::{IERC20, L1};
use crate::node::{next_nonce_hint, AccountView, Node};
use crate::status::{render_progress, BlockProgress, Progress};

/// How often `withdraw --wait` and receipt waits ask the node.
const POLL: Duration = Duration::from_secs(1);

/// Native coins of EVM chains have 18 decimals.
const NATIVE_DECIMALS: u8 = 18;

/// One command's context.
struct Wallet<'a> {
    args: &'a WalletArgs,
    node: Node,
    out: &'a mut dyn Write,
    timeout: Duration,
}

pub(crate) async fn run(args: WalletArgs, out: &mut dyn Write) -> Result<()> {
    let mut wallet = Wallet {
        node: Node::new(&args.node)?,
        timeout: Duration::from_secs(args.timeout_s),
        args: &args,
        out,
    };
    match &args.command {
        WalletCommand::Deposit(a) => wallet.deposit(a).await,
        WalletCommand::Register(a) => wallet.register(a).await,
        WalletCommand::Transfer(a) => wallet.transfer(a).await,
        WalletCommand::Withdraw(a) => wallet.withdraw(a).await,
        WalletCommand::Claim(a) => wallet.claim(a).await,
        WalletCommand::Balance(a) => wallet.balance(a).await,
        WalletCommand::Status(a) => wallet.status(a).await,
        WalletCommand::Exodus(a) => wallet.exodus(a).await,
        WalletCommand::Exit(a) => wallet.exit(a).await,
        WalletCommand::Refund(a) => wallet.refund(a).await,
    }
}

impl Wallet<'_> {
    /// The chains, from the node, the deployment file and `--chain-rpc`. Without the node,
    /// a deployment file alone will do for the commands that need only the chains.
    async fn directory(&self) -> Result<Directory> {
        let deployment = match &self.args.deployment {
            Some(path) => Some(DeploymentFile::read(path)?),
            None => None,
        };
        let node = match self.node.chains().await {
            Ok(chains) => Some(chains),
            Err(e) if deployment.is_some() => {
                eprintln!("note: {e}; using the deployment file's chains only");
                None
            }
            Err(e) => return Err(e),
        };
        Directory::merge(node, deployment.as_ref(), &self.args.chain_rpc)
    }

    /// The signing domain of a chain: its EVM chain id (asked of its endpoint when no
    /// source gave it) and its settlement contract.
    async fn domain(&self, entry: &ChainEntry) -> Result<ChainDomain> {
        if let Some(domain) = entry.domain() {
            return Ok(domain);
        }
        let settlement = entry.settlement()?;
        if entry.rpc_url.is_none() {
            return Err(WalletError::usage(format!(
                "the EVM chain id of chain {} is unknown: pass --deployment FILE or --chain-rpc {}=URL",
                entry.name, entry.name
            )));
        }
        let l1 = L1::connect(entry).await?;
        Ok(ChainDomain {
            evm_chain_id: l1.evm_chain_id(),
            settlement,
        })
    }

    /// This wallet's L2 key on this deployment.
    async fn l2_key(&self, key: &EthKey, directory: &Directory) -> Result<PrivateKey> {
        let primary = directory.primary()?;
        Ok(key.l2_key(&self.domain(primary).await?))
    }

    async fn account(&self, address: Address) -> Result<AccountView> {
        self.node
            .account(address)
            .await?
            .ok_or(WalletError::NoAccount { address })
    }

    fn print(&mut self, line: impl std::fmt::Display) -> Result<()> {
        writeln!(self.out, "{line}")?;
        self.out.flush()?;
        Ok(())
    }

    // ------------------------------------------------------------------ deposit

    async fn deposit(&mut self, a: &DepositArgs) -> Result<()> {
        let key = self.args.require_key()?;
        let directory = self.directory().await?;
        let entry = directory.by_name(&a.chain)?;
        let l1 = L1::connect(entry).await?;
        let settlement = l1.check_contract().await?;
        let token = match a.token {
            TokenSpec::Id(id) => id,
            TokenSpec::Native => l1.native_token().await?,
        };
        let info = l1.token(token).await?;
        let what = format!("token {token} on chain {}", entry.name);
        let amount = parse_amount(&a.amount, info.decimals, &what)
            .map_err(|e| WalletError::usage(e.to_string()))?;
        if amount < U256::from(info.min_deposit) {
            return Err(WalletError::usage(format!(
                "a deposit of {} is below the minimum of {} for {what}",
                a.amount,
                format_amount(U256::from(info.min_deposit), info.decimals)
            )));
        }
        let owner = a.to.unwrap_or(key.address());
        let fee = l1.priority_fee().await?;
        // What the owner holds on L2 before, to tell when the node has credited it. Not
        // asked with --no-wait, which needs only the chain: in exodus the node is gone, and
        // a deposit left unprocessed is what lets anyone activate exodus mode.
        let credited_before = if a.no_wait {
            U256::ZERO
        } else {
            self.l2_balance(owner, token).await?
        };
        let hash = if info.address == Address::ZERO {
            let call = Primary::depositNativeCall { owner };
            l1.send(
                &key,
                settlement,
                call.abi_encode(),
                amount.saturating_add(fee),
                "deposit",
                self.timeout,
            )
            .await?
        } else {
            let held = l1
                .read(
                    info.address,
                    IERC20::balanceOfCall {
                        owner: key.address(),
                    },
                )
                .await?;
            if held < amount {
                return Err(WalletError::chain(
                    &entry.name,
                    format!(
                        "{} holds {} of {what}, less than the {} to deposit",
                        key.address(),
                        format_amount(held, info.decimals),
                        a.amount
                    ),
                ));
            }
            let allowed = l1
                .read(
                    info.address,
                    IERC20::allowanceCall {
                        owner: key.address(),
                        spender: settlement,
                    },
                )
                .await?;
            if allowed < amount {
                let approve = IERC20::approveCall {
                    spender: settlement,
                    amount,
                };
                l1.send(
                    &key,
                    info.address,
                    approve.abi_encode(),
                    U256::ZERO,
                    "approval",
                    self.timeout,
                )
                .await?;
            }
            let call = Primary::depositERC20Call {
                tokenId: token.get(),
                amount,
                owner,
            };
            l1.send(
                &key,
                settlement,
                call.abi_encode(),
                fee,
                "deposit",
                self.timeout,
            )
            .await?
        };
        eprintln!(
            "deposited {} of {what} for {owner} (priority fee {fee} wei); waiting for the node \
             to credit it on L2 (it reads the deposit once final on chain {})",
            a.amount, entry.name
        );
        // L2 amounts have 18 decimals.
        let l2_amount =
            amount.saturating_mul(U256::from(10u64).pow(U256::from(18 - info.decimals.min(18))));
        let deadline = Instant::now() + self.timeout;
        loop {
            if a.no_wait {
                break;
            }
            let now = self.l2_balance(owner, token).await?;
            if now >= credited_before.saturating_add(l2_amount) {
                eprintln!("credited on L2");
                break;
            }
            if Instant::now() >= deadline {
                return Err(WalletError::Timeout {
                    seconds: self.timeout.as_secs(),
                    what: format!(
                        "the deposit {hash} is mined on chain {} but not credited on L2 yet",
                        entry.name
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.print(hash)
    }

    /// `owner`'s L2 balance of `token` (zero without an account).
    async fn l2_balance(&self, owner: Address, token: TokenId) -> Result<U256> {
        Ok(self
            .node
            .account(owner)
            .await?
            .and_then(|a| a.balances.get(&token).map(|b| U256::from(b.0)))
            .unwrap_or(U256::ZERO))
    }

    // ------------------------------------------------------------------ L2 transactions

    /// Submits the transaction `build` makes at `nonce`; if the mempool says a pending
    /// transaction of the account already uses that nonce, once more at the nonce it
    /// names. Returns the hash and the nonce used.
    async fn submit(&self, nonce: Nonce, build: impl Fn(Nonce) -> L2Tx) -> Result<(B256, Nonce)> {
        match self.node.send(&build(nonce)).await {
            Ok(hash) => Ok((hash, nonce)),
            Err(e) => match next_nonce_hint(&e) {
                Some(next) if next > nonce.0 => {
                    eprintln!(
                        "note: nonce {nonce} is taken by a pending transaction of this account; using {next}"
                    );
                    let nonce = Nonce(next);
                    Ok((self.node.send(&build(nonce)).await?, nonce))
                }
                _ => Err(e),
            },
        }
    }

    /// Sends the ChangePubKey registering `l2`'s key on `account`, checked by `chain`'s
    /// contract. Returns its hash and the nonce it used.
    async fn send_change_pubkey(
        &self,
        key: &EthKey,
        account: &AccountView,
        l2: &PrivateKey,
        chain: &ChainEntry,
    ) -> Result<(B256, Nonce)> {
        let domain = self.domain(chain).await?;
        let pubkey_hash = l2.public_key().hash();
        self.submit(account.nonce, |nonce| {
            L2Tx::ChangePubKey(ChangePubKey {
                account: account.id,
                chain: chain.id,
                pubkey_hash,
                nonce,
                eth_signature: sign_change_pubkey(
                    &domain,
                    key.signing_key(),
                    pubkey_hash,
                    nonce,
                    account.id,
                ),
            })
        })
        .await
    }

    /// The nonce the next transaction signed by `l2` uses: the account's, or the one after
    /// a ChangePubKey sent here first when the account has no L2 key yet.
    async fn ready_to_sign(
        &self,
        key: &EthKey,
        account: &AccountView,
        l2: &PrivateKey,
        directory: &Directory,
    ) -> Result<Nonce> {
        let ours = l2.public_key().hash();
        if account.pubkey_hash == ours {
            return Ok(account.nonce);
        }
        if account.pubkey_hash != PubKeyHash::NONE {
            return Err(WalletError::usage(format!(
                "L2 account {} has another L2 key registered than this wallet's; \
                 run `manyfold wallet register` to replace it with this wallet's key",
                account.id
            )));
        }
        let primary = directory.primary()?;
        let (hash, nonce) = self.send_change_pubkey(key, account, l2, primary).await?;
        eprintln!(
            "registered this wallet's L2 key first (ChangePubKey checked on chain {}): {hash}",
            primary.name
        );
        nonce
            .next()
            .ok_or_else(|| WalletError::usage(format!("account {} has no nonces left", account.id)))
    }

    fn check_balance(account: &AccountView, token: TokenId, amount: u128) -> Result<()> {
        let held = account
            .balances
            .get(&token)
            .copied()
            .unwrap_or(Amount::ZERO);
        if held.0 < amount {
            return Err(WalletError::usage(format!(
                "L2 account {} holds {} of token {token}, less than {}",
                account.id,
                format_l2(held.0),
                format_l2(amount)
            )));
        }
        Ok(())
    }

    async fn register(&mut self, a: &RegisterArgs) -> Result<()> {
        let key = self.args.require_key()?;
        let directory = self.directory().await?;
        let chain = match &a.chain {
            Some(name) => directory.by_name(name)?,
            None => directory.primary()?,
        };
        let l2 = self.l2_key(&key, &directory).await?;
        let account = self.account(key.address()).await?;
        if account.pubkey_hash == l2.public_key().hash() {
            eprintln!(
                "L2 account {} already has this wallet's L2 key; nothing sent",
                account.id
            );
            return Ok(());
        }
        let (hash, _) = self.send_change_pubkey(&key, &account, &l2, chain).await?;
        self.print(hash)
    }

    async fn transfer(&mut self, a: &TransferArgs) -> Result<()> {
        let key = self.args.require_key()?;
        let amount = parse_l2_amount(&a.amount, 18, "an L2 amount")
            .map_err(|e| WalletError::usage(e.to_string()))?;
        let directory = self.directory().await?;
        let l2 = self.l2_key(&key, &directory).await?;
        let account = self.account(key.address()).await?;
        let to = match a.to {
            Recipient::Address(address) => self.node.account(address).await?.ok_or_else(|| {
                WalletError::usage(format!(
                    "recipient {address} has no L2 account; a transfer needs one \
                     (a deposit to that address creates it)"
                ))
            })?,
            Recipient::Account(id) => self
                .node
                .account_by_id(id)
                .await?
                .ok_or_else(|| WalletError::usage(format!("L2 account {id} does not exist")))?,
        };
        Self::check_balance(&account, a.token, amount)?;
        let nonce = self.ready_to_sign(&key, &account, &l2, &directory).await?;
        let (hash, _) = self
            .submit(nonce, |nonce| {
                L2Tx::Transfer(
                    Transfer {
                        from: account.id,
                        to: to.id,
                        token: a.token,
                        amount: Amount(amount),
                        nonce,
                    }
                    .sign(&l2),
                )
            })
            .await?;
        // In a block before it returns: what comes next (a withdrawal of what was received)
        // sees it.
        self.wait_included(hash).await?;
        self.print(hash)
    }

    /// Waits until the node has put `hash` in a block; a transaction its block refused is
    /// an error naming why.
    async fn wait_included(&self, hash: B256) -> Result<()> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.node.receipt(hash).await? {
                Some(receipt) if receipt.status == manyfold_types::TxStatus::Failed => {
                    return Err(WalletError::Failed {
                        hash,
                        reason: receipt
                            .error
                            .unwrap_or_else(|| "refused when its block was built".into()),
                    })
                }
                Some(_) => return Ok(()),
                None if Instant::now() >= deadline => {
                    return Err(WalletError::Timeout {
                        seconds: self.timeout.as_secs(),
                        what: format!("{hash} is not in a block yet"),
                    })
                }
                None => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    async fn withdraw(&mut self, a: &WithdrawArgs) -> Result<()> {
        let key = self.args.require_key()?;
        let directory = self.directory().await?;
        let entry = directory.by_name(&a.chain)?;
        // The token and its decimals there: from the listed tokens, else from the chain's
        // contract if it can be reached; else the node checks them when it takes the
        // withdrawal.
        let listed = match a.token {
            TokenSpec::Id(id) => entry.listed_token(id)?,
            TokenSpec::Native => entry.listed_native().transpose()?,
        };
        let (token, decimals) = match (listed, a.token) {
            (Some(t), _) => (
                TokenId::new(t.id).map_err(|e| WalletError::usage(e.to_string()))?,
                Some(t.decimals),
            ),
            (None, spec) if entry.rpc_url.is_some() && entry.settlement.is_some() => {
                let l1 = L1::connect(entry).await?;
                let id = match spec {
                    TokenSpec::Id(id) => id,
                    TokenSpec::Native => l1.native_token().await?,
                };
                (id, Some(l1.token(id).await?.decimals))
            }
            (None, TokenSpec::Id(id)) => (id, None),
            (None, TokenSpec::Native) => {
                return Err(WalletError::usage(format!(
                    "the native coin's token id on chain {} is unknown: pass --token ID, \
                     or --deployment FILE",
                    entry.name
                )))
            }
        };
        let what = format!("token {token} on chain {}", entry.name);
        let amount = parse_l2_amount(&a.amount, decimals.unwrap_or(18), &what)
            .map_err(|e| WalletError::usage(e.to_string()))?;
        let to = a.to.unwrap_or(key.address());
        let l2 = self.l2_key(&key, &directory).await?;
        let account = self.account(key.address()).await?;
        Self::check_balance(&account, token, amount)?;
        let nonce = self.ready_to_sign(&key, &account, &l2, &directory).await?;
        let (hash, _) = self
            .submit(nonce, |nonce| {
                L2Tx::Withdraw(
                    Withdraw {
                        account: account.id,
                        chain: entry.id,
                        token,
                        amount: Amount(amount),
                        to,
                        nonce,
                    }
                    .sign(&l2),
                )
            })
            .await?;
        self.print(hash)?;
        if a.wait {
            self.wait_executed(hash, entry, &directory).await?;
            eprintln!(
                "claim it with: manyfold wallet claim --chain {} --token {token}{}",
                entry.name,
                if to == key.address() {
                    String::new()
                } else {
                    format!(" --to {to}")
                }
            );
        } else {
            eprintln!(
                "follow it with `manyfold wallet status {hash}`; once executed on chain {}, \
                 `manyfold wallet claim` pays it out",
                entry.name
            );
        }
        Ok(())
    }

    /// Where block `block` stands on each chain: from `manyfold_getTransactionStatus` of
    /// `tx` where the node has it and its answer lists chains, else from
    /// `manyfold_getSettlementStatus` of the block. `None` when the node has no such block.
    async fn block_progress(&self, tx: Option<B256>, block: u32) -> Result<Option<BlockProgress>> {
        if let Some(hash) = tx {
            if let Some(value) = self.node.transaction_status(hash).await? {
                let progress = BlockProgress::from_json(&value);
                if !progress.chains.is_empty() {
                    return Ok(Some(progress));
                }
            }
        }
        Ok(self
            .node
            .settlement_status(Some(block))
            .await?
            .as_ref()
            .map(BlockProgress::from_json))
    }

    /// Waits for `hash`'s block to be executed on `target`, showing each chain's stage.
    async fn wait_executed(
        &self,
        hash: B256,
        target: &ChainEntry,
        directory: &Directory,
    ) -> Result<()> {
        let deadline = Instant::now() + self.timeout;
        let mut progress = Progress::new(std::io::stderr().is_terminal());
        let show = |progress: &mut Progress, line: &str| {
            if let Some(text) = progress.update(line) {
                eprint!("{text}");
            }
        };
        let timed_out = |line: &str| WalletError::Timeout {
            seconds: self.timeout.as_secs(),
            what: format!(
                "the withdrawal {hash} is not executed on chain {} yet ({line})",
                target.name
            ),
        };
        let block = loop {
            // A node that restarts meanwhile is waited for, like a block that is late.
            let line = match self.node.receipt(hash).await {
                Ok(Some(receipt)) if receipt.status == TxStatus::Failed => {
                    if let Some(text) = progress.finish() {
                        eprint!("{text}");
                    }
                    return Err(WalletError::Failed {
                        hash,
                        reason: receipt
                            .error
                            .unwrap_or_else(|| "refused when its block was built".into()),
                    });
                }
                Ok(Some(receipt)) => break receipt.block_number,
                Ok(None) => format!("waiting for {hash} to be in a block"),
                Err(e @ WalletError::Node { .. }) => format!("{e}; retrying"),
                Err(e) => return Err(e),
            };
            show(&mut progress, &line);
            if Instant::now() >= deadline {
                if let Some(text) = progress.finish() {
                    eprint!("{text}");
                }
                return Err(timed_out(&line));
            }
            tokio::time::sleep(POLL).await;
        };
        loop {
            let (blocks, line) = match self.block_progress(Some(hash), block).await {
                Ok(blocks) => {
                    let chains: Vec<(String, String)> = blocks
                        .iter()
                        .flat_map(|b| &b.chains)
                        .map(|c| (chain_name(directory, &c.chain), c.stage.clone()))
                        .collect();
                    let line = render_progress(Some(u64::from(block)), &chains);
                    (blocks, line)
                }
                Err(e @ WalletError::Node { .. }) => {
                    (None, format!("block {block}: {e}; retrying"))
                }
                Err(e) => return Err(e),
            };
            show(&mut progress, &line);
            let done = blocks
                .as_ref()
                .and_then(|b| b.chain(u64::from(target.id.get()), &target.name))
                .is_some_and(|c| c.executed());
            if done {
                if let Some(text) = progress.finish() {
                    eprint!("{text}");
                }
                eprintln!("executed on chain {}", target.name);
                return Ok(());
            }
            if Instant::now() >= deadline {
                if let Some(text) = progress.finish() {
                    eprint!("{text}");
                }
                return Err(timed_out(&line));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    // ------------------------------------------------------------------ claim

    async fn claim(&mut self, a: &ClaimArgs) -> Result<()> {
        let key = self.args.require_key()?;
        let directory = self.directory().await?;
        let entry = directory.by_name(&a.chain)?;
        let l1 = L1::connect(entry).await?;
        let settlement = l1.check_contract().await?;
        let token = match a.token {
            TokenSpec::Id(id) => id,
            TokenSpec::Native => l1.native_token().await?,
        };
        let info = l1.token(token).await?;
        let owner = a.to.unwrap_or(key.address());
        let pending = l1.pending_balance(owner, token).await?;
        if pending.is_zero() {
            return Err(WalletError::NothingToClaim {
                chain: entry.name.clone(),
                token: token.get(),
                owner,
            });
        }
        let call = Primary::withdrawPendingBalanceCall {
            owner,
            tokenId: token.get(),
        };
        let hash = l1
            .send(
                &key,
                settlement,
                call.abi_encode(),
                U256::ZERO,
                "claim",
                self.timeout,
            )
            .await?;
        eprintln!(
            "claimed up to {} of token {token} on chain {} for {owner}",
            format_amount(pending, info.decimals),
            l1.name()
        );
        self.print(hash)
    }

    // ------------------------------------------------------------------ balance

    async fn balance(&mut self, a: &BalanceArgs) -> Result<()> {
        let key = self.args.key()?;
        let address = match (a.address, &key) {
            (Some(address), _) => address,
            (None, Some(key)) => key.address(),
            (None, None) => {
                return Err(WalletError::usage(
                    "balance needs --address ADDRESS, or a key (--key-env, --key-file, --dev)",
                ))
            }
        };
        let directory = self.directory().await?;
        let account = self.node.account(address).await?;
        // Whether the registered key is this wallet's, when that can be told.
        let ours = match (&key, &account) {
            (Some(key), Some(account)) if key.address() == address => directory
                .primary()
                .ok()
                .and_then(ChainEntry::domain)
                .map(|domain| key.l2_key(&domain).public_key().hash() == account.pubkey_hash),
            _ => None,
        };
        let mut chains = Vec::new();
        for entry in directory.chains() {
            chains.push(self.chain_balances(entry, address, account.as_ref()).await);
        }
        if self.args.json {
            let l2 = account.as_ref().map(|acc| {
                json!({
                    "account": acc.id.get(),
                    "nonce": acc.nonce.0,
                    "keyRegistered": acc.pubkey_hash != PubKeyHash::NONE,
                    "keyIsThisWallets": ours,
                    "balances": acc.balances.iter()
                        .map(|(t, v)| (t.to_string(), Value::from(format_l2(v.0))))
                        .collect::<serde_json::Map<_, _>>(),
                })
            });
            let chains: Vec<Value> = chains.iter().map(ChainBalances::to_json).collect();
            let value = json!({"address": address, "l2": l2, "chains": chains});
            return self.print(value);
        }
        let mut text = format!("address {address}\n");
        match &account {
            None => text.push_str("L2: no account yet (a deposit to this address creates it)\n"),
            Some(acc) => {
                let key_state = match (acc.pubkey_hash == PubKeyHash::NONE, ours) {
                    (true, _) => "no L2 key registered",
                    (false, Some(true)) => "L2 key registered (this wallet's)",
                    (false, Some(false)) => "L2 key registered (not this wallet's)",
                    (false, None) => "L2 key registered",
                };
                text.push_str(&format!(
                    "L2 account {}: nonce {}, {key_state}\n",
                    acc.id, acc.nonce
                ));
                if acc.balances.is_empty() {
                    text.push_str("  no balances\n");
                }
                for (token, amount) in &acc.balances {
                    text.push_str(&format!("  token {token}: {}\n", format_l2(amount.0)));
                }
            }
        }
        for c in &chains {
            text.push_str(&c.to_text());
        }
        self.print(text.trim_end())
    }

    /// A chain's native balance and claimable balances of `address`. Failures are
    /// reported in the result (and on stderr), not as an error: one chain down does not
    /// hide the others.
    async fn chain_balances(
        &self,
        entry: &ChainEntry,
        address: Address,
        account: Option<&AccountView>,
    ) -> ChainBalances {
        let mut out = ChainBalances {
            name: entry.name.clone(),
            id: entry.id.get(),
            native: None,
            claimable: Vec::new(),
            note: None,
        };
        if entry.rpc_url.is_none() {
            let note = format!("no endpoint (pass --chain-rpc {}=URL)", entry.name);
            eprintln!("note: chain {}: {note}", entry.name);
            out.note = Some(note);
            return out;
        }
        let result: Result<()> = async {
            let l1 = L1::connect(entry).await?;
            out.native = Some(l1.native_balance(address).await?);
            if entry.settlement.is_none() {
                out.note = Some("settlement contract unknown (pass --deployment FILE): claimable balances not shown".into());
                return Ok(());
            }
            // Which tokens to look at: the listed ones, else those the L2 account holds
            // and the native coin's.
            let mut candidates: BTreeSet<u16> = BTreeSet::new();
            match &entry.tokens {
                Some(tokens) => candidates.extend(tokens.iter().map(|t| t.id)),
                None => {
                    candidates.extend(account.iter().flat_map(|a| a.balances.keys().map(|t| t.get())));
                    if let Ok(native) = l1.native_token().await {
                        candidates.insert(native.get());
                    }
                }
            }
            for id in candidates {
                let Ok(token) = TokenId::new(id) else { continue };
                let decimals = match entry.tokens.as_ref().and_then(|ts| ts.iter().find(|t| t.id == id)) {
                    Some(t) => t.decimals,
                    None => match l1.token(token).await {
                        Ok(info) => info.decimals,
                        // Not registered here: nothing can be claimable.
                        Err(WalletError::Usage(_)) => continue,
                        Err(e) => return Err(e),
                    },
                };
                let pending = l1.pending_balance(address, token).await?;
                if !pending.is_zero() {
                    out.claimable.push((id, format_amount(pending, decimals)));
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            eprintln!("note: {e}");
            out.note = Some(e.to_string());
        }
        out
    }

    // ------------------------------------------------------------------ status

    async fn status(&mut self, a: &StatusArgs) -> Result<()> {
        // Names make the answer readable, but the status does not depend on them.
        let directory = match self.directory().await {
            Ok(d) => d,
            Err(WalletError::Usage(e)) => return Err(WalletError::Usage(e)),
            Err(_) => Directory::merge(None, None, &[])?,
        };
        let mut transaction = None;
        let status = match a.target {
            StatusTarget::Transaction(hash) => {
                let receipt = self.node.receipt(hash).await?.ok_or_else(|| {
                    WalletError::usage(format!(
                        "transaction {hash} has no receipt: it is not in a block yet, or the node does not know it"
                    ))
                })?;
                let block = receipt.block_number;
                transaction = Some(receipt);
                self.block_progress(Some(hash), block).await?
            }
            StatusTarget::Block(n) => self.block_progress(None, n).await?,
            StatusTarget::Latest => self
                .node
                .settlement_status(None)
                .await?
                .as_ref()
                .map(BlockProgress::from_json),
        };
        let Some(mut block) = status else {
            return Err(WalletError::usage(match a.target {
                StatusTarget::Block(n) => format!("block {n} is not sealed yet"),
                _ => "the node has no block yet".to_owned(),
            }));
        };
        if block.number.is_none() {
            block.number = transaction.as_ref().map(|r| u64::from(r.block_number));
        }
        if self.args.json {
            let value = json!({
                "transaction": transaction.as_ref().map(|r| json!({
                    "hash": r.tx_hash,
                    "block": r.block_number,
                    "status": match r.status { TxStatus::Included => "included", TxStatus::Failed => "failed" },
                    "error": r.error,
                })),
                "block": block.number,
                "hash": block.hash,
                "chains": block.chains.iter().map(|c| json!({
                    "chain": chain_name(&directory, &c.chain),
                    "id": directory.resolve(&c.chain),
                    "stage": c.stage,
                    "stages": c.stages.iter().map(|s| json!({
                        "stage": s.stage, "tx": s.tx, "time": s.time,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            return self.print(value);
        }
        let mut text = String::new();
        if let Some(r) = &transaction {
            match r.status {
                TxStatus::Included => text.push_str(&format!(
                    "transaction {} included in block {}\n",
                    r.tx_hash, r.block_number
                )),
                TxStatus::Failed => text.push_str(&format!(
                    "transaction {} failed in block {}: {}\n",
                    r.tx_hash,
                    r.block_number,
                    r.error
                        .as_deref()
                        .unwrap_or("refused when its block was built")
                )),
            }
        }
        text.push_str(&match (&block.number, &block.hash) {
            (Some(n), Some(h)) => format!("block {n} {h}\n"),
            (Some(n), None) => format!("block {n}\n"),
            _ => "block ?\n".to_owned(),
        });
        let names: Vec<String> = block
            .chains
            .iter()
            .map(|c| chain_name(&directory, &c.chain))
            .collect();
        let width = names.iter().map(String::len).max().unwrap_or(0);
        for (c, name) in block.chains.iter().zip(&names) {
            text.push_str(&format!("{name:<width$}  {}\n", c.stage));
            for s in &c.stages {
                let mut line = format!("{:<width$}    {}", "", s.stage);
                if let Some(tx) = &s.tx {
                    line.push_str(&format!(" tx {tx}"));
                }
                if let Some(time) = &s.time {
                    line.push_str(&format!(" at {time}"));
                }
                text.push_str(line.trim_end());
                text.push('\n');
            }
        }
        self.print(text.trim_end())
    }
}

/// A status entry's chain, by name where the directory knows it.
fn chain_name(directory: &Directory, chain: &str) -> String {
    match crate::chains::parse_number(chain) {
        Some(id) => directory.name_of(id),
        None => chain.to_owned(),
    }
}

/// What `balance` shows of one chain.
struct ChainBalances {
    name: String,
    id: u16,
    native: Option<U256>,
    claimable: Vec<(u16, String)>,
    note: Option<String>,
}

impl ChainBalances {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "id": self.id,
            "native": self.native.map(|n| format_amount(n, NATIVE_DECIMALS)),
            "claimable": self.claimable.iter()
                .map(|(t, v)| (t.to_string(), Value::from(v.clone())))
                .collect::<serde_json::Map<_, _>>(),
            "note": self.note,
        })
    }

    fn to_text(&self) -> String {
        let native = match self.native {
            Some(n) => format!("native {}", format_amount(n, NATIVE_DECIMALS)),
            None => "native ?".to_owned(),
        };
        let mut text = format!("chain {} (id {}): {native}\n", self.name, self.id);
        for (token, amount) in &self.claimable {
            text.push_str(&format!("  claimable token {token}: {amount}\n"));
        }
        if let Some(note) = &self.note {
            text.push_str(&format!("  ({note})\n"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_balances_render() {
        let c = ChainBalances {
            name: "alpha".into(),
            id: 1,
            native: Some(U256::from(15u128 * 10u128.pow(17))),
            claimable: vec![(2, "0.5".into())],
            note: None,
        };
        assert_eq!(
            c.to_text(),
            "chain alpha (id 1): native 1.5\n  claimable token 2: 0.5\n"
        );
        assert_eq!(
            c.to_json(),
            json!({"name": "alpha", "id": 1, "native": "1.5", "claimable": {"2": "0.5"}, "note": null})
        );
        let down = ChainBalances {
            native: None,
            claimable: vec![],
            note: Some("no endpoint".into()),
            ..c
        };
        assert_eq!(
            down.to_text(),
            "chain alpha (id 1): native ?\n  (no endpoint)\n"
        );
    }
}
