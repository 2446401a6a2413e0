//! The checks: one method per [`Check`], each saying what it expected and what came back.

use std::fmt::Display;
use std::sync::Arc;

use alloy_consensus::TxEip1559;
use alloy_primitives::{keccak256, Address, Bytes, TxKind, B256, U256};
use manyfold_chain::{
    BlockId, BlockRef, BlockTag, CallRequest, Chain, ChainError, Finality, Log, LogFilter, Receipt,
    TxStatus,
};
use tokio::time::Instant;

use crate::wallet::Wallet;
use crate::{probe, Check, Failure, KitOptions, Outcome, Report, Target};

/// A check's result before it is attributed to its [`Check`]: the message of a failure.
type Step<T> = Result<T, String>;

/// Names the call that failed in a check's message.
trait Context<T> {
    fn ctx(self, call: impl Display) -> Step<T>;
}

impl<T> Context<T> for manyfold_chain::Result<T> {
    fn ctx(self, call: impl Display) -> Step<T> {
        self.map_err(|e| format!("{call} failed: {e} ({e:?})"))
    }
}

macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

/// What the transfer check sends: an odd amount, so that it cannot be mistaken for a fee.
const TRANSFER_VALUE: u64 = 1_000_000_007;
/// How many parent links below the head the heads check follows.
const LINKS: u64 = 5;
/// A height no chain reaches while the kit runs.
const FAR_AHEAD: u64 = 1 << 40;
/// The gas of a plain transfer; used where estimating would itself fail.
const TRANSFER_GAS: u64 = 21_000;

/// A transaction the kit signed.
struct Signed {
    raw: Bytes,
    hash: B256,
    tx: TxEip1559,
}

/// Signs a transaction from `wallet` at `nonce`, with fees from the plugin's estimate and,
/// when `gas` is `None`, gas from its `estimate_gas`.
#[allow(clippy::too_many_arguments)]
async fn sign(
    chain: &dyn Chain,
    wallet: &Wallet,
    chain_id: u64,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Bytes,
    gas: Option<u64>,
) -> Step<Signed> {
    let fees = chain.estimate_fees().await.ctx("estimate_fees()")?;
    ensure!(
        fees.max_fee_per_gas >= fees.max_priority_fee_per_gas
            && fees.max_fee_per_gas >= fees.base_fee_per_gas,
        "estimate_fees() returned {fees:?}: max_fee_per_gas must cover both the tip and the base fee"
    );
    let gas_limit = match (gas, to) {
        (Some(gas), _) => gas,
        (None, TxKind::Call(callee)) => {
            let call = CallRequest {
                from: Some(wallet.address),
                value,
                ..CallRequest::new(callee, input.clone())
            };
            chain
                .estimate_gas(call)
                .await
                .ctx(format_args!("estimate_gas(call of {callee})"))?
        }
        (None, TxKind::Create) => unreachable!("deployments name their gas"),
    };
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas: fees.max_fee_per_gas,
        max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
        to,
        value,
        access_list: Default::default(),
        input,
    };
    let (raw, hash) = wallet.sign(tx.clone())?;
    Ok(Signed { raw, hash, tx })
}

/// The heads check, on any plugin (the restart check runs it again on the new one).
/// Returns the latest head read last.
async fn heads(chain: &dyn Chain, finality: Finality) -> Step<BlockRef> {
    // From the slowest head to the fastest, so that a chain advancing meanwhile cannot
    // make a correct plugin look out of order.
    let finalized = chain
        .head(BlockTag::Finalized)
        .await
        .ctx("head(finalized)")?;
    let safe = chain.head(BlockTag::Safe).await.ctx("head(safe)")?;
    let latest = chain.head(BlockTag::Latest).await.ctx("head(latest)")?;
    ensure!(
        finalized.number <= safe.number && safe.number <= latest.number,
        "expected finalized ≤ safe ≤ latest, got finalized {}, safe {}, latest {}",
        finalized.number,
        safe.number,
        latest.number
    );
    for (tag, head) in [
        (BlockTag::Finalized, finalized),
        (BlockTag::Safe, safe),
        (BlockTag::Latest, latest),
    ] {
        let n = head.number;
        let by_number = chain
            .block(BlockId::Number(n))
            .await
            .ctx(format_args!("block(Number({n}))"))?;
        ensure!(
            by_number.map(|b| b.hash) == Some(head.hash),
            "head({tag}) is block {n} with hash {}, but block(Number({n})) is {by_number:?}",
            head.hash
        );
        let by_hash = chain
            .block(BlockId::Hash(head.hash))
            .await
            .ctx(format_args!("block(Hash({}))", head.hash))?;
        ensure!(
            by_hash == Some(head),
            "head({tag}) is {head:?}, but block(Hash) of its hash is {by_hash:?}"
        );
    }
    let mut child = latest;
    for _ in 0..LINKS {
        if child.number == 0 {
            break;
        }
        let n = child.number - 1;
        let parent = chain
            .block(BlockId::Number(n))
            .await
            .ctx(format_args!("block(Number({n}))"))?
            .ok_or_else(|| format!("block {n}, below the latest head, is None"))?;
        ensure!(
            parent.number == n,
            "block(Number({n})) returned a block numbered {}",
            parent.number
        );
        ensure!(
            child.parent_hash == parent.hash,
            "block {}'s parent_hash is {}, but block {n}'s hash is {}",
            child.number,
            child.parent_hash,
            parent.hash
        );
        ensure!(
            child.timestamp >= parent.timestamp,
            "block {} has timestamp {}, before its parent's {}",
            child.number,
            child.timestamp,
            parent.timestamp
        );
        child = parent;
    }
    let far = latest.number + FAR_AHEAD;
    let none = chain
        .block(BlockId::Number(far))
        .await
        .ctx(format_args!("block(Number({far}))"))?;
    ensure!(
        none.is_none(),
        "expected None for block {far}, far beyond the head, got {none:?}"
    );
    let final_head = chain
        .final_head(finality)
        .await
        .ctx(format_args!("final_head({finality})"))?;
    let latest = chain.head(BlockTag::Latest).await.ctx("head(latest)")?;
    if let Some(f) = final_head {
        ensure!(
            f.number <= latest.number,
            "final_head({finality}) is block {}, beyond the latest head {}",
            f.number,
            latest.number
        );
        let canonical = chain
            .block(BlockId::Number(f.number))
            .await
            .ctx(format_args!("block(Number({}))", f.number))?;
        ensure!(
            canonical.map(|b| b.hash) == Some(f.hash),
            "final_head({finality}) is {f:?}, but block(Number({})) is {canonical:?}",
            f.number
        );
    }
    Ok(latest)
}

/// One run of the kit: the plugin, the target, and what the checks have done so far.
pub(crate) struct Runner<'t, T: Target + ?Sized> {
    target: &'t mut T,
    options: KitOptions,
    /// `None` only while the restart check holds it.
    chain: Option<Arc<dyn Chain>>,
    finality: Finality,
    chain_id: u64,
    funded: Wallet,
    /// The funded key's nonce when the run started.
    first_nonce: u64,
    /// Transactions from the funded key the chain accepted since.
    sent: u64,
    /// Makes this run's addresses and topics its own, so that runs on one chain do not see
    /// each other's.
    seed: B256,
    transfer: Option<Receipt>,
    probe: Option<Address>,
}

impl<'t, T: Target + ?Sized> Runner<'t, T> {
    /// Opens the plugin and reads the funded key's nonce; a failure counts against
    /// [`Check::ChainId`].
    pub(crate) async fn start(target: &'t mut T, options: KitOptions) -> Result<Self, Failure> {
        let fail = |message| Failure {
            check: Check::ChainId,
            message,
        };
        let funded = Wallet::new(&target.funded_key()).map_err(fail)?;
        let chain = target.open().await.ctx("Target::open()").map_err(fail)?;
        let first_nonce = chain
            .nonce(funded.address, BlockId::Tag(BlockTag::Latest))
            .await
            .ctx("nonce(funded key, latest)")
            .map_err(fail)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let seed = keccak256(
            [
                funded.address.as_slice(),
                &first_nonce.to_be_bytes(),
                &now.to_be_bytes(),
            ]
            .concat(),
        );
        Ok(Self {
            chain_id: target.expected_chain_id(),
            finality: target.finality(),
            target,
            options,
            chain: Some(chain),
            funded,
            first_nonce,
            sent: 0,
            seed,
            transfer: None,
            probe: None,
        })
    }

    /// Every check in order, stopping at the first failure.
    pub(crate) async fn run(mut self) -> Result<Report, Failure> {
        let mut report = Report::default();
        for check in Check::ALL {
            let outcome = if self.options.skip.contains(&check) {
                Outcome::Skipped("skipped on request".into())
            } else {
                tracing::info!(%check, "conformance check");
                self.check(check)
                    .await
                    .map_err(|message| Failure { check, message })?
            };
            report.outcomes.push((check, outcome));
        }
        tracing::info!(%report, "conformance kit done");
        Ok(report)
    }

    async fn check(&mut self, check: Check) -> Step<Outcome> {
        match check {
            Check::ChainId => self.chain_id().await,
            Check::Heads => heads(&*self.chain(), self.finality)
                .await
                .map(|_| Outcome::Passed),
            Check::Transfer => self.transfer().await,
            Check::Finality => self.finality().await,
            Check::Logs => self.logs().await,
            Check::Call => self.call().await,
            Check::UnknownTx => self.unknown_tx().await,
            Check::InsufficientFunds => self.insufficient_funds().await,
            Check::NonceTooLow => self.nonce_too_low().await,
            Check::Underpriced => self.underpriced().await,
            Check::Restart => self.restart().await,
        }
    }

    fn chain(&self) -> Arc<dyn Chain> {
        Arc::clone(self.chain.as_ref().expect("held between checks"))
    }

    /// An address or topic of this run, named by `label`.
    fn derive(&self, label: &str) -> B256 {
        keccak256([self.seed.as_slice(), label.as_bytes()].concat())
    }

    /// Where the kit's transfers go: an address nobody else pays.
    fn recipient(&self) -> Address {
        Address::from_word(self.derive("recipient"))
    }

    /// Signs a transaction from the funded key at its next nonce.
    // `&mut self` in the async methods: a shared borrow held across an await would make the
    // run's future need `T: Sync`.
    async fn sign_funded(
        &mut self,
        to: TxKind,
        value: U256,
        input: Bytes,
        gas: Option<u64>,
    ) -> Step<Signed> {
        let nonce = self.first_nonce + self.sent;
        sign(
            &*self.chain(),
            &self.funded,
            self.chain_id,
            nonce,
            to,
            value,
            input,
            gas,
        )
        .await
    }

    /// Sends a transaction signed by the funded key and counts its nonce as used.
    async fn send_funded(&mut self, signed: &Signed, what: &str) -> Step<B256> {
        let hash = self
            .chain()
            .send_raw(signed.raw.clone())
            .await
            .ctx(format_args!("send_raw({what})"))?;
        self.sent += 1;
        ensure!(
            hash == signed.hash,
            "send_raw({what}) returned {hash}, expected the keccak of the raw bytes, {}",
            signed.hash
        );
        Ok(hash)
    }

    /// Polls for the receipt of `tx`, asking the target for a block between polls.
    async fn wait_receipt(&mut self, tx: B256, what: &str) -> Step<Receipt> {
        let chain = self.chain();
        let deadline = Instant::now() + self.options.timeout;
        loop {
            if let Some(receipt) = chain
                .receipt(tx)
                .await
                .ctx(format_args!("receipt({what})"))?
            {
                ensure!(
                    receipt.tx_hash == tx,
                    "receipt({tx}) is for transaction {}",
                    receipt.tx_hash
                );
                return Ok(receipt);
            }
            if Instant::now() >= deadline {
                let status = chain.tx_status(tx).await;
                return Err(format!(
                    "no receipt for {what} ({tx}) after {:?} (tx_status: {status:?}); a chain \
                     that makes blocks only on demand implements Target::produce_block",
                    self.options.timeout
                ));
            }
            self.target
                .produce_block()
                .await
                .ctx("Target::produce_block()")?;
            tokio::time::sleep(self.options.poll).await;
        }
    }

    /// Checks that block `number` is canonical with `hash`.
    async fn canonical(chain: &dyn Chain, number: u64, hash: B256, what: &str) -> Step<()> {
        let block = chain
            .block(BlockId::Number(number))
            .await
            .ctx(format_args!("block(Number({number}))"))?;
        ensure!(
            block.map(|b| b.hash) == Some(hash),
            "{what} is in block {number} with hash {hash}, but block(Number({number})) is {block:?}"
        );
        Ok(())
    }

    /// Checks that `tx_status` agrees with `receipt`.
    async fn status_agrees(chain: &dyn Chain, receipt: &Receipt, what: &str) -> Step<()> {
        let status = chain
            .tx_status(receipt.tx_hash)
            .await
            .ctx(format_args!("tx_status({what})"))?;
        let expected = TxStatus::Mined {
            block_number: receipt.block_number,
            block_hash: receipt.block_hash,
            success: receipt.success,
        };
        ensure!(
            status == expected,
            "tx_status({what}): expected {expected:?} as its receipt says, got {status:?}"
        );
        Ok(())
    }

    /// Checks that the funded key's nonce counts every transaction the kit sent, and
    /// returns it.
    async fn nonce_counts(&mut self, chain: &dyn Chain) -> Step<u64> {
        let nonce = chain
            .nonce(self.funded.address, BlockId::Tag(BlockTag::Latest))
            .await
            .ctx("nonce(funded key, latest)")?;
        let expected = self.first_nonce + self.sent;
        ensure!(
            nonce == expected,
            "nonce(funded key, latest): expected {expected} ({} at the start and {} sent since), \
             got {nonce}",
            self.first_nonce,
            self.sent
        );
        Ok(nonce)
    }

    async fn chain_id(&mut self) -> Step<Outcome> {
        let got = self.chain().chain_id().await.ctx("chain_id()")?;
        ensure!(
            got == self.chain_id,
            "expected chain id {}, the plugin reports {got}",
            self.chain_id
        );
        Ok(Outcome::Passed)
    }

    async fn transfer(&mut self) -> Step<Outcome> {
        let chain = self.chain();
        let recipient = self.recipient();
        let value = U256::from(TRANSFER_VALUE);
        let latest = BlockId::Tag(BlockTag::Latest);
        let before = chain
            .balance(recipient, latest)
            .await
            .ctx("balance(recipient, latest)")?;
        let head_before = chain.head(BlockTag::Latest).await.ctx("head(latest)")?;
        let signed = self
            .sign_funded(TxKind::Call(recipient), value, Bytes::new(), None)
            .await?;
        ensure!(
            signed.tx.gas_limit >= TRANSFER_GAS,
            "estimate_gas(transfer) returned {}, below the {TRANSFER_GAS} every transfer costs",
            signed.tx.gas_limit
        );
        let hash = self.send_funded(&signed, "transfer").await?;
        match chain.send_raw(signed.raw.clone()).await {
            Ok(again) => ensure!(
                again == hash,
                "sending the transfer's bytes again returned {again}, expected {hash}"
            ),
            Err(ChainError::AlreadyKnown) => {}
            Err(e) => {
                return Err(format!(
                    "sending the transfer's bytes again: expected Ok or ChainError::AlreadyKnown, \
                     got {e:?}"
                ))
            }
        }
        let status = chain
            .tx_status(hash)
            .await
            .ctx("tx_status(transfer, just sent)")?;
        ensure!(
            matches!(status, TxStatus::Pending | TxStatus::Mined { .. }),
            "tx_status right after send_raw: expected Pending or Mined, got {status:?}"
        );
        let receipt = self.wait_receipt(hash, "the transfer").await?;
        ensure!(
            receipt.success,
            "the transfer's receipt says it failed: {receipt:?}"
        );
        ensure!(
            receipt.block_number > head_before.number,
            "the transfer was sent when the latest head was {}, yet its receipt puts it in block {}",
            head_before.number,
            receipt.block_number
        );
        ensure!(
            receipt.logs.is_empty() && receipt.contract_address.is_none(),
            "a plain transfer's receipt has logs or a contract address: {receipt:?}"
        );
        ensure!(
            receipt.gas_used >= TRANSFER_GAS && receipt.gas_used <= signed.tx.gas_limit,
            "the transfer's receipt says it used {} gas; expected {TRANSFER_GAS} to its limit {}",
            receipt.gas_used,
            signed.tx.gas_limit
        );
        ensure!(
            receipt.effective_gas_price <= signed.tx.max_fee_per_gas,
            "the transfer's effective gas price {} is above its max fee {}",
            receipt.effective_gas_price,
            signed.tx.max_fee_per_gas
        );
        Self::canonical(
            &*chain,
            receipt.block_number,
            receipt.block_hash,
            "the transfer",
        )
        .await?;
        Self::status_agrees(&*chain, &receipt, "transfer").await?;
        let after = chain
            .balance(recipient, latest)
            .await
            .ctx("balance(recipient, latest)")?;
        ensure!(
            after == before + value,
            "the recipient's balance was {before} and the transfer sent {value}, but balance() \
             now says {after}"
        );
        let head_after = chain.head(BlockTag::Latest).await.ctx("head(latest)")?;
        ensure!(
            head_after.number >= receipt.block_number,
            "head(latest) is block {} after the transfer was mined in block {}",
            head_after.number,
            receipt.block_number
        );
        self.nonce_counts(&*chain).await?;
        self.transfer = Some(receipt);
        Ok(Outcome::Passed)
    }

    async fn finality(&mut self) -> Step<Outcome> {
        let chain = self.chain();
        let (goal, goal_hash, what) = match &self.transfer {
            Some(r) => (r.block_number, r.block_hash, "the transfer's block"),
            None => {
                let head = chain.head(BlockTag::Latest).await.ctx("head(latest)")?;
                (head.number, head.hash, "the latest block at the start")
            }
        };
        let rule = self.finality;
        let deadline = Instant::now() + self.options.timeout;
        loop {
            let final_head = chain
                .final_head(rule)
                .await
                .ctx(format_args!("final_head({rule})"))?;
            if let Some(f) = final_head {
                let latest = chain.head(BlockTag::Latest).await.ctx("head(latest)")?;
                ensure!(
                    f.number <= latest.number,
                    "final_head({rule}) is block {}, beyond the latest head {}",
                    f.number,
                    latest.number
                );
                if f.number >= goal {
                    Self::canonical(&*chain, goal, goal_hash, what).await?;
                    return Ok(Outcome::Passed);
                }
            }
            ensure!(
                Instant::now() < deadline,
                "final_head({rule}) did not reach {what} ({goal}) within {:?}; it last said \
                 {final_head:?}. A chain that makes blocks only on demand implements \
                 Target::produce_block",
                self.options.timeout
            );
            self.target
                .produce_block()
                .await
                .ctx("Target::produce_block()")?;
            tokio::time::sleep(self.options.poll).await;
        }
    }

    /// The probe contract's address, deploying it first if no check has yet.
    async fn probe(&mut self) -> Step<Address> {
        if let Some(probe) = self.probe {
            return Ok(probe);
        }
        let expected = self.funded.address.create(self.first_nonce + self.sent);
        let signed = self
            .sign_funded(
                TxKind::Create,
                U256::ZERO,
                probe::init_code().into(),
                Some(probe::DEPLOY_GAS),
            )
            .await?;
        let hash = self.send_funded(&signed, "probe deployment").await?;
        let receipt = self.wait_receipt(hash, "the probe deployment").await?;
        ensure!(receipt.success, "deploying the probe failed: {receipt:?}");
        ensure!(
            receipt.contract_address == Some(expected),
            "the probe deployment's receipt names contract {:?}; the sender and nonce make it {expected}",
            receipt.contract_address
        );
        self.probe = Some(expected);
        Ok(expected)
    }

    async fn logs(&mut self) -> Step<Outcome> {
        let probe = self.probe().await?;
        let chain = self.chain();
        let topic0 = probe::topic0();
        let words = [self.derive("log 0"), self.derive("log 1")];
        let inputs = [b"first".as_slice(), b"second"]
            .iter()
            .zip(&words)
            .map(|(rest, word)| Bytes::from(probe::log_input(*word, rest)))
            .collect::<Vec<_>>();
        // Sent back to back, so that a chain with a block time may put both in one block and
        // log indexes within a block are checked too.
        let mut hashes = Vec::new();
        for input in &inputs {
            let signed = self
                .sign_funded(TxKind::Call(probe), U256::ZERO, input.clone(), None)
                .await?;
            hashes.push(self.send_funded(&signed, "probe call").await?);
        }
        let mut receipts = Vec::new();
        for hash in hashes {
            receipts.push(self.wait_receipt(hash, "a probe call").await?);
        }
        for ((receipt, input), word) in receipts.iter().zip(&inputs).zip(words) {
            ensure!(receipt.success, "a probe call failed: {receipt:?}");
            let [log] = receipt.logs.as_slice() else {
                return Err(format!(
                    "the receipt of a probe call should hold the one log it emitted, it holds {:?}",
                    receipt.logs
                ));
            };
            let expected = Log {
                address: probe,
                topics: vec![topic0, word],
                data: input.clone(),
                block_number: receipt.block_number,
                block_hash: receipt.block_hash,
                tx_hash: receipt.tx_hash,
                log_index: log.log_index,
            };
            ensure!(
                *log == expected,
                "a probe call's receipt log: expected {expected:?}, got {log:?}"
            );
            Self::canonical(
                &*chain,
                receipt.block_number,
                receipt.block_hash,
                "a probe call",
            )
            .await?;
        }
        let mut all: Vec<Log> = receipts.iter().flat_map(|r| r.logs.clone()).collect();
        all.sort_by_key(|l| (l.block_number, l.log_index));
        ensure!(
            all.windows(2)
                .all(|p| (p[0].block_number, p[0].log_index) < (p[1].block_number, p[1].log_index)),
            "two receipts' logs share a block and a log index: {all:?}"
        );
        let (from, to) = (all[0].block_number, all[all.len() - 1].block_number);
        let range = || LogFilter::range(from, to);
        let read = |filter: LogFilter, what: String| {
            let chain = Arc::clone(&chain);
            async move {
                let got = chain.logs(filter).await.ctx(format_args!("logs({what})"))?;
                Ok::<_, String>((got, what))
            }
        };
        let mut cases = vec![(
            range().address(probe),
            format!("blocks {from}..={to}, address {probe}"),
            all.clone(),
        )];
        for block in [from, to] {
            cases.push((
                LogFilter::range(block, block).address(probe),
                format!("block {block}, address {probe}"),
                all.iter()
                    .filter(|l| l.block_number == block)
                    .cloned()
                    .collect(),
            ));
        }
        for (word, receipt) in words.iter().zip(&receipts) {
            cases.push((
                range().topic(0, topic0).topic(1, *word),
                format!("blocks {from}..={to}, topic0 {topic0}, topic1 {word}"),
                receipt.logs.clone(),
            ));
            cases.push((
                range().address(probe).topic(1, *word),
                format!("blocks {from}..={to}, address {probe}, topic1 {word}"),
                receipt.logs.clone(),
            ));
        }
        cases.push((
            range().topic(1, words[0]).topic(1, words[1]),
            format!(
                "blocks {from}..={to}, topic1 either of {} and {}",
                words[0], words[1]
            ),
            all.clone(),
        ));
        let nothing = self.derive("a topic nobody logs");
        cases.push((
            range().topic(0, nothing),
            format!("blocks {from}..={to}, topic0 {nothing} that nothing logs"),
            Vec::new(),
        ));
        cases.push((
            range().address(probe).topic(1, nothing),
            format!("blocks {from}..={to}, address {probe}, topic1 {nothing} that nothing logs"),
            Vec::new(),
        ));
        for (filter, what, expected) in cases {
            let (got, what) = read(filter, what).await?;
            ensure!(
                got == expected,
                "logs({what}): expected the receipts' logs {expected:?}, got {got:?}"
            );
        }
        Ok(Outcome::Passed)
    }

    async fn call(&mut self) -> Step<Outcome> {
        let probe = self.probe().await?;
        let chain = self.chain();
        let latest = BlockId::Tag(BlockTag::Latest);
        let input = probe::log_input(self.derive("call"), b"read-only");
        let call = CallRequest {
            from: Some(self.funded.address),
            ..CallRequest::new(probe, input)
        };
        let out = chain.call(call, latest).await.ctx("call(probe)")?;
        ensure!(
            out.as_ref() == probe::word().as_slice(),
            "call(probe) returned {out}, expected the word {}",
            probe::word()
        );
        let reverting = Bytes::from(probe::revert_input(b"manyfold-conformance revert"));
        match chain
            .call(CallRequest::new(probe, reverting.clone()), latest)
            .await
        {
            Err(ChainError::Reverted { data, .. }) if data == reverting => {}
            other => {
                return Err(format!(
                    "a call that reverts: expected ChainError::Reverted with data {reverting}, \
                     got {other:?}"
                ))
            }
        }
        let signed = self
            .sign_funded(
                TxKind::Call(probe),
                U256::ZERO,
                reverting,
                Some(probe::REVERT_GAS),
            )
            .await?;
        let hash = self
            .send_funded(&signed, "a transaction that reverts")
            .await?;
        let receipt = self
            .wait_receipt(hash, "a transaction that reverts")
            .await?;
        ensure!(
            !receipt.success && receipt.logs.is_empty(),
            "a transaction that reverts: expected a receipt with success = false and no logs, \
             got {receipt:?}"
        );
        Self::status_agrees(&*chain, &receipt, "a transaction that reverted").await?;
        Ok(Outcome::Passed)
    }

    async fn unknown_tx(&mut self) -> Step<Outcome> {
        let chain = self.chain();
        let unknown = self.derive("a transaction nobody sent");
        let receipt = chain.receipt(unknown).await.ctx("receipt(unknown)")?;
        ensure!(
            receipt.is_none(),
            "receipt of {unknown}, which nobody sent: expected None, got {receipt:?}"
        );
        let status = chain.tx_status(unknown).await.ctx("tx_status(unknown)")?;
        ensure!(
            status == TxStatus::Unknown,
            "tx_status of {unknown}, which nobody sent: expected Unknown, got {status:?}"
        );
        Ok(Outcome::Passed)
    }

    async fn insufficient_funds(&mut self) -> Step<Outcome> {
        let chain = self.chain();
        let poor = Wallet::derived(self.derive("unfunded key").as_slice());
        let balance = chain
            .balance(poor.address, BlockId::Tag(BlockTag::Latest))
            .await
            .ctx("balance(unfunded key)")?;
        ensure!(
            balance.is_zero(),
            "the kit's unfunded key {} has {balance} wei",
            poor.address
        );
        // Fixed gas: estimating a transfer from an empty account fails by itself.
        let signed = sign(
            &*chain,
            &poor,
            self.chain_id,
            0,
            TxKind::Call(self.funded.address),
            U256::from(1),
            Bytes::new(),
            Some(TRANSFER_GAS),
        )
        .await?;
        match chain.send_raw(signed.raw).await {
            Err(ChainError::InsufficientFunds(_)) => Ok(Outcome::Passed),
            other => Err(format!(
                "a transfer from {}, which has no ETH: expected ChainError::InsufficientFunds, \
                 got {other:?}",
                poor.address
            )),
        }
    }

    async fn nonce_too_low(&mut self) -> Step<Outcome> {
        let chain = self.chain();
        if self.first_nonce + self.sent == 0 {
            // Nothing mined from the funded key yet: mine one, whose nonce is then reused.
            let signed = self
                .sign_funded(
                    TxKind::Call(self.recipient()),
                    U256::from(1),
                    Bytes::new(),
                    None,
                )
                .await?;
            let hash = self.send_funded(&signed, "transfer").await?;
            self.wait_receipt(hash, "a transfer").await?;
        }
        let next = self.nonce_counts(&*chain).await?;
        let reused = next - 1;
        let signed = sign(
            &*chain,
            &self.funded,
            self.chain_id,
            reused,
            TxKind::Call(Address::from_word(self.derive("nonce too low"))),
            U256::from(2),
            Bytes::new(),
            Some(TRANSFER_GAS),
        )
        .await?;
        match chain.send_raw(signed.raw).await {
            Err(ChainError::NonceTooLow(_)) => Ok(Outcome::Passed),
            other => Err(format!(
                "a new transaction at nonce {reused}, already mined: expected \
                 ChainError::NonceTooLow, got {other:?}"
            )),
        }
    }

    async fn underpriced(&mut self) -> Step<Outcome> {
        let chain = self.chain();
        let first = self
            .sign_funded(
                TxKind::Call(self.recipient()),
                U256::from(3),
                Bytes::new(),
                None,
            )
            .await?;
        let hash = self
            .send_funded(&first, "the transaction to replace")
            .await?;
        let status = chain
            .tx_status(hash)
            .await
            .ctx("tx_status(the transaction to replace)")?;
        let outcome = if status != TxStatus::Pending {
            Outcome::Skipped(format!(
                "the chain mined the transaction at once (tx_status {status:?}), so nothing \
                 stays pending to replace"
            ))
        } else {
            let mut cheaper = first.tx.clone();
            cheaper.max_priority_fee_per_gas /= 2;
            cheaper.value = U256::from(4);
            let (raw, _) = self.funded.sign(cheaper.clone())?;
            let answer = chain.send_raw(raw).await;
            let mined_meanwhile = match answer {
                Err(ChainError::NonceTooLow(_)) => chain
                    .receipt(hash)
                    .await
                    .ctx("receipt(the transaction to replace)")?
                    .is_some(),
                _ => false,
            };
            match answer {
                Err(ChainError::Underpriced(_)) => Outcome::Passed,
                _ if mined_meanwhile => Outcome::Skipped(
                    "the chain mined the transaction before its replacement arrived".into(),
                ),
                other => {
                    return Err(format!(
                        "replacing pending transaction {hash} with one paying a lower tip ({} \
                         instead of {} wei per gas): expected ChainError::Underpriced, got \
                         {other:?}",
                        cheaper.max_priority_fee_per_gas, first.tx.max_priority_fee_per_gas
                    ))
                }
            }
        };
        let receipt = self
            .wait_receipt(hash, "the transaction to replace")
            .await?;
        ensure!(
            receipt.success,
            "the transaction kept over its cheaper replacement failed: {receipt:?}"
        );
        Ok(outcome)
    }

    async fn restart(&mut self) -> Step<Outcome> {
        let chain = self.chain.take().expect("held between checks");
        let before = chain.head(BlockTag::Latest).await.ctx("head(latest)")?;
        let nonce = self.nonce_counts(&*chain).await?;
        let chain = self.target.restart(chain).await.ctx("Target::restart()")?;
        self.chain = Some(Arc::clone(&chain));
        let id = chain.chain_id().await.ctx("chain_id() after restart")?;
        ensure!(
            id == self.chain_id,
            "after restart: expected chain id {}, got {id}",
            self.chain_id
        );
        let after = chain
            .nonce(self.funded.address, BlockId::Tag(BlockTag::Latest))
            .await
            .ctx("nonce(funded key, latest) after restart")?;
        ensure!(
            after == nonce,
            "the funded key's nonce was {nonce} before the restart and is {after} after"
        );
        Self::canonical(
            &*chain,
            before.number,
            before.hash,
            "the latest head before the restart",
        )
        .await?;
        let latest = heads(&*chain, self.finality)
            .await
            .map_err(|e| format!("after restart: {e}"))?;
        ensure!(
            latest.number >= before.number,
            "the latest head went back from {} to {} across the restart",
            before.number,
            latest.number
        );
        Ok(Outcome::Passed)
    }
}
