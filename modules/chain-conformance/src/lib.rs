//! The conformance kit: the standard checks a chain plugin's own tests run against it
//! (DESIGN §7).
//!
//! A plugin author implements [`Target`] (how to open and restart the plugin, which key has
//! ETH, which finality rule to use) and calls [`run`] from a test:
//!
//! ```ignore
//! let report = manyfold_chain_conformance::run(&mut my_target, KitOptions::default()).await?;
//! tracing::info!(%report);
//! ```
//!
//! [`run`] goes through every [`Check`] in [`Check::ALL`] order against one plugin on a
//! real EVM chain: it sends transactions with the funded key, deploys a tiny probe contract
//! (hand-assembled bytecode), reads its logs and calls it, provokes the common errors and
//! restarts the plugin. It stops at the first check that fails and returns a [`Failure`]
//! naming the check and saying what was expected and what came back; otherwise a
//! [`Report`] of what passed and what was skipped.
//!
//! The chain must execute EVM transactions: the in-memory `MockChain` of
//! `manyfold-chain` (feature `test-utils`) records transactions without executing them, so
//! it passes only the checks that need no EVM ([`Check::needs_evm`] is false); see the kit's
//! own tests.
//!
//! [`probe`] is the contract the kit deploys, for tests that want to drive it themselves;
//! [`anvil`] starts the pinned anvil for tests against an external chain.
//!
//! Two runs against the same chain may share a funded key only one after the other: the
//! kit counts the nonces it uses.

use std::sync::Arc;
use std::time::Duration;

use manyfold_chain::{Chain, ChainFuture, Finality};

pub mod anvil;
mod checks;
pub mod probe;
mod wallet;

/// The plugin under test, as its author provides it.
///
/// Every method returns a [`ChainFuture`] so that a target that starts a process or a
/// server can do so asynchronously; a target's own failures map onto
/// [`manyfold_chain::ChainError::Other`] (or any other variant).
pub trait Target: Send {
    /// The EVM chain id the plugin must report.
    fn expected_chain_id(&self) -> u64;

    /// A secp256k1 private key holding enough ETH on the chain for a dozen small
    /// transactions (at most about 0.01 ETH at 1 gwei, plus what the fees cost).
    fn funded_key(&self) -> [u8; 32];

    /// The finality rule to check `final_head` with: the one the chain would be configured
    /// with.
    fn finality(&self) -> Finality;

    /// Builds the plugin. Called once, at the start.
    fn open(&mut self) -> ChainFuture<'_, Arc<dyn Chain>>;

    /// Stops the plugin and builds it again on the same data (for a plugin that persists
    /// state) or the same endpoint. The kit hands over its only handle on the plugin, so
    /// dropping `chain` releases it unless the target kept a clone. The default drops it and
    /// calls [`Target::open`].
    fn restart(&mut self, chain: Arc<dyn Chain>) -> ChainFuture<'_, Arc<dyn Chain>> {
        drop(chain);
        self.open()
    }

    /// Makes the chain produce a block. The kit calls it while it waits for a receipt or for
    /// finality, once per poll. The default does nothing: the chain makes blocks by itself
    /// (on a timer, or one per transaction).
    fn produce_block(&mut self) -> ChainFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// How long the kit waits, and which checks it leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitOptions {
    /// The longest wait for one thing: a receipt, or finality reaching a block.
    pub timeout: Duration,
    /// The pause between two polls while waiting (after [`Target::produce_block`]).
    pub poll: Duration,
    /// Checks not to run; the report lists them as skipped on request. A skipped check's
    /// prerequisites (a mined transaction, the probe contract) are made by the next check
    /// that needs them.
    pub skip: Vec<Check>,
}

impl Default for KitOptions {
    /// 60 s per wait, polling every 50 ms, every check run.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            poll: Duration::from_millis(50),
            skip: Vec::new(),
        }
    }
}

impl KitOptions {
    /// These options, and `check` is not run.
    pub fn skipping(mut self, check: Check) -> Self {
        self.skip.push(check);
        self
    }
}

/// One of the standard checks, in the order [`run`] goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// `chain_id()` equals [`Target::expected_chain_id`] (opening the plugin counts here).
    ChainId,
    /// The latest, safe and finalized heads exist with `finalized ≤ safe ≤ latest`; each
    /// agrees with `block(Number(n))` and `block(Hash(h))`; the last few blocks link to
    /// their parents by hash with non-decreasing timestamps; a block far beyond the head is
    /// `None`; `final_head(finality)` is at most the latest head and canonical.
    Heads,
    /// An EIP-1559 transfer from the funded key (fees from `estimate_fees`, gas from
    /// `estimate_gas`): `send_raw` returns the keccak of the raw bytes; sending the same
    /// bytes again is `Ok` with the same hash or `AlreadyKnown`; the receipt arrives, with
    /// success, no logs, in a block after the head seen before sending and canonical;
    /// `tx_status` is `Mined` with the receipt's block; the recipient's balance grew by the
    /// value; the latest head moved past the block seen before; the funded key's nonce
    /// counts the transaction.
    Transfer,
    /// `final_head(finality)` reaches the transfer's block (or, without one, the latest
    /// block seen when the check starts), which is still canonical by then.
    Finality,
    /// The probe contract deploys at the address the sender and nonce determine; two calls
    /// that each log once (sent back to back) have receipts carrying exactly those logs,
    /// and `logs` over their blocks, filtered by address, by topics or both, returns the
    /// same logs (block hash, transaction hash, log index) in order; a topic that matches
    /// nothing returns nothing.
    Logs,
    /// A read-only call of the probe returns its word; a call that reverts is
    /// `ChainError::Reverted` carrying the revert data; a transaction that reverts is mined
    /// with `success = false` and no logs, and `tx_status` says so.
    Call,
    /// A transaction hash nobody sent has no receipt and `tx_status` `Unknown`.
    UnknownTx,
    /// A transfer signed by a key with no ETH is refused with `InsufficientFunds`.
    InsufficientFunds,
    /// A transaction reusing a mined nonce of the funded key is refused with `NonceTooLow`.
    NonceTooLow,
    /// While a transaction is pending, a replacement at its nonce paying a lower tip is
    /// refused with `Underpriced`. Skipped, with the reason in the report, when the chain
    /// mines the first transaction before the replacement can be sent.
    Underpriced,
    /// The funded key's nonce equals the transactions the kit got mined (plus the nonce at
    /// the start), and after [`Target::restart`] the new plugin reports the same chain id
    /// and nonce, still has the block that was the head before, and its heads pass
    /// [`Check::Heads`].
    Restart,
}

impl Check {
    /// Every check, in the order [`run`] goes through them.
    pub const ALL: [Check; 11] = [
        Check::ChainId,
        Check::Heads,
        Check::Transfer,
        Check::Finality,
        Check::Logs,
        Check::Call,
        Check::UnknownTx,
        Check::InsufficientFunds,
        Check::NonceTooLow,
        Check::Underpriced,
        Check::Restart,
    ];

    /// The check's name, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            Check::ChainId => "chain_id",
            Check::Heads => "heads",
            Check::Transfer => "transfer",
            Check::Finality => "finality",
            Check::Logs => "logs",
            Check::Call => "call",
            Check::UnknownTx => "unknown_tx",
            Check::InsufficientFunds => "insufficient_funds",
            Check::NonceTooLow => "nonce_too_low",
            Check::Underpriced => "underpriced",
            Check::Restart => "restart",
        }
    }

    /// Whether the check needs a chain that executes EVM transactions (balances, nonces,
    /// contracts), which an in-memory mock does not.
    pub fn needs_evm(self) -> bool {
        !matches!(
            self,
            Check::ChainId | Check::Heads | Check::Finality | Check::UnknownTx | Check::Restart
        )
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a check ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything it checks held.
    Passed,
    /// Not run, and why: on request ([`KitOptions::skip`]) or because the chain cannot
    /// show the behaviour (see [`Check::Underpriced`]).
    Skipped(String),
}

/// What a run found: every check in order, with its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Each check and how it ended, in [`Check::ALL`] order.
    pub outcomes: Vec<(Check, Outcome)>,
}

impl Report {
    /// The checks that passed.
    pub fn passed(&self) -> Vec<Check> {
        self.outcomes
            .iter()
            .filter(|(_, o)| *o == Outcome::Passed)
            .map(|(c, _)| *c)
            .collect()
    }

    /// The checks that were skipped, with why.
    pub fn skipped(&self) -> Vec<(Check, &str)> {
        self.outcomes
            .iter()
            .filter_map(|(c, o)| match o {
                Outcome::Skipped(why) => Some((*c, why.as_str())),
                Outcome::Passed => None,
            })
            .collect()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let passed = self.passed();
        write!(f, "{} checks passed", passed.len())?;
        for (check, why) in self.skipped() {
            write!(f, "; {check} skipped: {why}")?;
        }
        Ok(())
    }
}

/// The first check that failed: which, and what was expected against what came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("conformance check `{check}` failed: {message}")]
pub struct Failure {
    /// The check.
    pub check: Check,
    /// What was expected and what came back (or which call failed, with its error).
    pub message: String,
}

/// Runs every check of [`Check::ALL`] (less [`KitOptions::skip`]) against the plugin
/// `target` opens, in order, stopping at the first failure.
///
/// Needs a Tokio runtime with the time driver (`#[tokio::test]` has one). Progress is
/// logged with `tracing` at `info`.
pub async fn run<T: Target + ?Sized>(
    target: &mut T,
    options: KitOptions,
) -> Result<Report, Failure> {
    checks::Runner::start(target, options).await?.run().await
}
