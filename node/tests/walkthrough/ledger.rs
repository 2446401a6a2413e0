//! What the chains themselves logged of the settlement, read with the pinned `cast` as any
//! auditor would: which transaction committed, proved, synchronized and executed each
//! block. "Nothing lands twice" is checked here, on the chains, not in the node's records.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

use super::Setup;

/// One chain's settlement events, each with the transaction that emitted it.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// `BlockCommit`: (L2 block, transaction).
    pub(crate) commits: Vec<(u32, String)>,
    /// `BlockExecuted`: (L2 block, transaction).
    pub(crate) executes: Vec<(u32, String)>,
    /// `BlocksProven` (primary): (first block, last block, transaction).
    pub(crate) proofs: Vec<(u32, u32, String)>,
    /// `SyncHashMatched` (primary): (secondary's rollup id, L2 block, transaction).
    pub(crate) synced: Vec<(u16, u32, String)>,
    /// `ConfirmationReceived` (secondary): (L2 block, transaction).
    pub(crate) confirmations: Vec<(u32, String)>,
}

fn topic_number(log: &Value, index: usize) -> u32 {
    let topic = log["topics"][index].as_str().unwrap();
    u32::from_str_radix(topic.trim_start_matches("0x"), 16).unwrap()
}

fn data_word(log: &Value, index: usize) -> u32 {
    let data = log["data"].as_str().unwrap().trim_start_matches("0x");
    u32::from_str_radix(&data[index * 64..(index + 1) * 64], 16).unwrap()
}

fn tx(log: &Value) -> String {
    log["transactionHash"].as_str().unwrap().to_owned()
}

impl Setup {
    fn logs(&self, chain: &str, contract: &str, event: &str) -> Vec<Value> {
        let cast = manyfold_chain_conformance::anvil::pinned_tool("MANYFOLD_CAST", "cast");
        let output = Command::new(cast)
            .args([
                "logs",
                "--json",
                "--from-block",
                "0",
                "--address",
                contract,
                event,
            ])
            .args(["--rpc-url", self.url(chain)])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Everything `chain`'s settlement contract at `contract` logged of the settlement.
    pub(crate) fn ledger(&self, chain: &str, contract: &str) -> Ledger {
        let logs = |event: &str| self.logs(chain, contract, event);
        Ledger {
            commits: logs("BlockCommit(uint32 indexed,uint32,bytes32,bytes32)")
                .iter()
                .map(|l| (topic_number(l, 1), tx(l)))
                .collect(),
            executes: logs("BlockExecuted(uint32 indexed,uint32,bytes32)")
                .iter()
                .map(|l| (topic_number(l, 1), tx(l)))
                .collect(),
            proofs: logs("BlocksProven(uint32,uint32)")
                .iter()
                .map(|l| (data_word(l, 0), data_word(l, 1), tx(l)))
                .collect(),
            synced: logs("SyncHashMatched(uint16 indexed,uint32 indexed)")
                .iter()
                .map(|l| (topic_number(l, 1) as u16, topic_number(l, 2), tx(l)))
                .collect(),
            confirmations: logs("ConfirmationReceived(uint32 indexed,bytes32,bytes32)")
                .iter()
                .map(|l| (topic_number(l, 1), tx(l)))
                .collect(),
        }
    }
}

/// Every block once, in order, and no transaction with more than `max_per_tx` of them.
fn once_each(chain: &str, kind: &str, events: &[(u32, String)], max_per_tx: usize) {
    let blocks: Vec<u32> = events.iter().map(|(b, _)| *b).collect();
    assert!(
        blocks.windows(2).all(|w| w[0] < w[1]),
        "{chain}: every block {kind} once, in order: {blocks:?}"
    );
    let mut per_tx: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, tx) in events {
        *per_tx.entry(tx).or_default() += 1;
    }
    assert!(
        per_tx.values().all(|n| *n <= max_per_tx),
        "{chain}: at most {max_per_tx} blocks {kind} per transaction: {per_tx:?}"
    );
}

impl Ledger {
    /// The primary's ledger: blocks 1..=n committed, each once, at most `max_per_tx` per
    /// transaction; proofs of consecutive ranges from block 1, each once; every
    /// secondary's sync hash of a block matched once; blocks 1..=m executed (m ≤ n), each
    /// once, each execution ending at a proven range's end. Returns (n, m).
    pub(crate) fn assert_primary_once(&self, max_per_tx: usize) -> (u32, u32) {
        once_each("primary", "committed", &self.commits, max_per_tx);
        // An execution ends at a proven range's end (a range executes whole, however long):
        // its size is bounded by the ranges, not by `max_per_tx`.
        once_each("primary", "executed", &self.executes, usize::MAX);
        let ends: BTreeSet<u32> = self.proofs.iter().map(|(_, to, _)| *to).collect();
        let mut last_of_tx: BTreeMap<&str, u32> = BTreeMap::new();
        for (block, tx) in &self.executes {
            let last = last_of_tx.entry(tx).or_default();
            *last = (*last).max(*block);
        }
        assert!(
            last_of_tx.values().all(|b| ends.contains(b)),
            "primary: every execution ends at a proven range's end: {last_of_tx:?}, ends {ends:?}"
        );
        let committed = self.commits.len() as u32;
        let executed = self.executes.len() as u32;
        assert!(
            self.commits.iter().map(|(b, _)| *b).eq(1..=committed),
            "primary: blocks committed from 1 without a gap: {:?}",
            self.commits
        );
        assert!(
            self.executes.iter().map(|(b, _)| *b).eq(1..=executed),
            "primary: blocks executed from 1 without a gap: {:?}",
            self.executes
        );
        assert!(executed <= committed);
        let mut next = 1;
        for (from, to, _) in &self.proofs {
            assert_eq!(
                *from, next,
                "primary: proofs of consecutive ranges, each once"
            );
            assert!(to >= from && *to <= committed);
            next = to + 1;
        }
        let txs: BTreeSet<_> = self.proofs.iter().map(|(_, _, tx)| tx).collect();
        assert_eq!(txs.len(), self.proofs.len(), "one proof per transaction");
        let synced: BTreeSet<_> = self.synced.iter().map(|(c, b, _)| (*c, *b)).collect();
        assert_eq!(
            synced.len(),
            self.synced.len(),
            "primary: each sync hash matched once: {:?}",
            self.synced
        );
        (committed, executed)
    }

    /// A secondary's ledger: each block it was sent committed once, executed at most once
    /// and only once committed; confirmations only ever newer.
    pub(crate) fn assert_secondary_once(&self, chain: &str, max_per_tx: usize) {
        once_each(chain, "committed", &self.commits, max_per_tx);
        once_each(chain, "executed", &self.executes, max_per_tx);
        let committed: BTreeSet<u32> = self.commits.iter().map(|(b, _)| *b).collect();
        assert!(
            self.executes.iter().all(|(b, _)| committed.contains(b)),
            "{chain}: only committed blocks executed"
        );
        once_each(chain, "confirmed", &self.confirmations, 1);
    }
}
