//! Where a block stands on each chain, read tolerantly from the node's status answers,
//! and the one-line progress indicator of `withdraw --wait`.
//!
//! `manyfold_getSettlementStatus` and `manyfold_getTransactionStatus` answer JSON whose
//! shape is still growing, so it is read as a `serde_json::Value`: a list `chains` (at the
//! top or one level down), each entry naming its `chain` (an id, as a number or a
//! quantity, or a name) and either its current `stage` or a list `stages` of the stages
//! reached (strings, or objects with a `stage` field and whatever else, such as the
//! transaction hash and time).

use serde_json::Value;

use crate::chains::value_number;

/// Settlement stages in the order a block goes through them. Names outside this list are
/// shown as given and rank below `sealed`.
const ORDER: [&str; 6] = [
    "sealed",
    "committed",
    "proven",
    "synced",
    "confirmed",
    "executed",
];

/// The rank of a stage name; `synchronized` is `synced`.
pub fn rank(stage: &str) -> Option<usize> {
    let stage = stage.to_ascii_lowercase();
    let stage = match stage.as_str() {
        "synchronized" | "synchronised" | "synchronize" | "sync" => "synced",
        other => other,
    };
    ORDER.iter().position(|s| *s == stage)
}

/// One stage reached on a chain, with what the node said of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageReached {
    /// Its name, as the node wrote it.
    pub stage: String,
    /// The settlement transaction, when given.
    pub tx: Option<String>,
    /// When, as the node wrote it.
    pub time: Option<String>,
}

/// A block's progress on one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProgress {
    /// The chain as the node named it: an id (`"1"`) or a name.
    pub chain: String,
    /// The furthest stage reached; `sealed` when the node said nothing of it.
    pub stage: String,
    /// Every stage the node listed, in its order.
    pub stages: Vec<StageReached>,
}

impl ChainProgress {
    /// Whether the block is executed there: withdrawals to this chain claimable.
    pub fn executed(&self) -> bool {
        rank(&self.stage) == rank("executed")
    }
}

/// A block's progress on every chain the node listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockProgress {
    /// The block, when the answer names it.
    pub number: Option<u64>,
    /// The block's hash, when given.
    pub hash: Option<String>,
    /// Per chain, in the node's order.
    pub chains: Vec<ChainProgress>,
}

impl BlockProgress {
    /// Reads a status answer (see the module's documentation).
    pub fn from_json(value: &Value) -> Self {
        let number = find(value, &["number", "blockNumber", "block"]).and_then(value_number);
        let hash = find(value, &["hash", "blockHash"])
            .and_then(Value::as_str)
            .map(str::to_owned);
        let chains = chain_entries(value)
            .into_iter()
            .map(|(key, entry)| chain_progress(key, entry))
            .collect();
        Self {
            number,
            hash,
            chains,
        }
    }

    /// The progress on chain `id` (or named `name`).
    pub fn chain(&self, id: u64, name: &str) -> Option<&ChainProgress> {
        self.chains
            .iter()
            .find(|c| c.chain == name || crate::chains::parse_number(&c.chain) == Some(id))
    }
}

/// `value[key]` for the first key present, at the top or one object level down.
fn find<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let here = keys
        .iter()
        .find_map(|k| value.get(*k))
        .filter(|v| !v.is_object());
    here.or_else(|| {
        value
            .as_object()?
            .values()
            .filter(|v| v.is_object())
            .find_map(|v| {
                keys.iter()
                    .find_map(|k| v.get(*k))
                    .filter(|v| !v.is_object())
            })
    })
}

/// The per-chain entries: `chains` as a list, or as an object keyed by chain.
fn chain_entries(value: &Value) -> Vec<(Option<String>, &Value)> {
    let chains = value
        .get("chains")
        .or_else(|| value.as_object()?.values().find_map(|v| v.get("chains")));
    match chains {
        Some(Value::Array(list)) => list.iter().map(|v| (None, v)).collect(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (Some(k.clone()), v)).collect(),
        _ => Vec::new(),
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn chain_progress(key: Option<String>, entry: &Value) -> ChainProgress {
    let chain = entry
        .get("chain")
        .or_else(|| entry.get("id"))
        .or_else(|| entry.get("name"))
        .and_then(|v| match value_number(v) {
            Some(n) => Some(n.to_string()),
            None => text_of(v),
        })
        .or(key)
        .unwrap_or_else(|| "?".into());
    let mut stages = Vec::new();
    if let Some(list) = entry.get("stages").and_then(Value::as_array) {
        for item in list {
            let reached = match item {
                Value::String(s) => Some(StageReached {
                    stage: s.clone(),
                    tx: None,
                    time: None,
                }),
                Value::Object(_) => item
                    .get("stage")
                    .and_then(text_of)
                    .map(|stage| StageReached {
                        stage,
                        tx: ["tx", "txHash", "transaction", "transactionHash", "hash"]
                            .iter()
                            .find_map(|k| item.get(*k).and_then(text_of)),
                        time: ["time", "timestamp", "at"]
                            .iter()
                            .find_map(|k| item.get(*k).and_then(text_of)),
                    }),
                _ => None,
            };
            stages.extend(reached);
        }
    }
    let current = entry.get("stage").and_then(text_of);
    // The furthest of the current stage and every listed one.
    let stage = current
        .iter()
        .chain(stages.iter().map(|s| &s.stage))
        .max_by_key(|s| rank(s).map_or(0, |r| r + 1))
        .cloned()
        .unwrap_or_else(|| "sealed".into());
    ChainProgress {
        chain,
        stage,
        stages,
    }
}

/// The progress line: `block 12: primary executed, alpha synced, beta committed`.
/// `chains` holds each chain's name and stage, in chain order.
pub fn render_progress(block: Option<u64>, chains: &[(String, String)]) -> String {
    let head = match block {
        Some(n) => format!("block {n}"),
        None => "waiting for the block".to_owned(),
    };
    if chains.is_empty() {
        return format!("{head}: no chain has it yet");
    }
    let parts: Vec<String> = chains
        .iter()
        .map(|(name, stage)| format!("{name} {stage}"))
        .collect();
    format!("{head}: {}", parts.join(", "))
}

/// A one-line progress indicator. On a terminal each new line overwrites the last
/// (carriage return, padded over what it replaces); elsewhere (a log file, a pipe) each
/// change is a line of its own. Unchanged lines are not written again.
#[derive(Debug, Default)]
pub struct Progress {
    tty: bool,
    last: Option<String>,
}

impl Progress {
    /// An indicator for a terminal (`tty`) or not.
    pub fn new(tty: bool) -> Self {
        Self { tty, last: None }
    }

    /// What to write for `line`: `None` when it is what is shown already.
    pub fn update(&mut self, line: &str) -> Option<String> {
        if self.last.as_deref() == Some(line) {
            return None;
        }
        let out = if self.tty {
            let previous = self.last.as_ref().map_or(0, |l| l.chars().count());
            let pad = previous.saturating_sub(line.chars().count());
            format!("\r{line}{}", " ".repeat(pad))
        } else {
            format!("{line}\n")
        };
        self.last = Some(line.to_owned());
        Some(out)
    }

    /// What to write when done: on a terminal, the newline that ends the rewritten line.
    pub fn finish(&mut self) -> Option<String> {
        (self.tty && self.last.take().is_some()).then(|| "\n".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn todays_settlement_status_is_read() {
        let value = json!({
            "number": "0xc", "hash": format!("0x{}", "ab".repeat(32)),
            "chains": [{"chain": "0x0", "stage": "executed"}, {"chain": "0x1", "stage": "synchronized"}]
        });
        let p = BlockProgress::from_json(&value);
        assert_eq!(p.number, Some(12));
        assert_eq!(p.chains.len(), 2);
        assert!(p.chain(0, "primary").unwrap().executed());
        let alpha = p.chain(1, "alpha").unwrap();
        assert!(!alpha.executed());
        assert_eq!(alpha.stage, "synchronized");
        assert!(p.chain(2, "beta").is_none());
    }

    #[test]
    fn stage_lists_with_transactions_and_times_are_read() {
        let value = json!({
            "receipt": {"txHash": "0x01", "blockNumber": "0x7", "status": "included"},
            "block": {
                "number": 7,
                "chains": [
                    {"chain": 0, "name": "primary", "stages": [
                        {"stage": "committed", "tx": "0xc0", "time": 1700000000},
                        {"stage": "proven", "txHash": "0xp0", "timestamp": "2024-01-01T00:00:00Z"},
                        {"stage": "executed", "tx": "0xe0"}
                    ]},
                    {"chain": "alpha", "stages": ["committed", "synced"]},
                    {"chain": "0x2", "stages": []}
                ]
            }
        });
        let p = BlockProgress::from_json(&value);
        assert_eq!(p.number, Some(7));
        let primary = p.chain(0, "primary").unwrap();
        assert!(primary.executed());
        assert_eq!(primary.stages.len(), 3);
        assert_eq!(primary.stages[0].tx.as_deref(), Some("0xc0"));
        assert_eq!(primary.stages[0].time.as_deref(), Some("1700000000"));
        assert_eq!(primary.stages[1].tx.as_deref(), Some("0xp0"));
        let alpha = p.chain(1, "alpha").unwrap();
        assert_eq!(alpha.stage, "synced");
        assert!(!alpha.executed());
        assert_eq!(p.chain(2, "beta").unwrap().stage, "sealed");

        // Keyed by chain name instead of a list; `stage` and `stages` together.
        let keyed = json!({"number": 3, "chains": {
            "alpha": {"stage": "committed", "stages": [{"stage": "executed"}]}
        }});
        let p = BlockProgress::from_json(&keyed);
        assert!(p.chain(1, "alpha").unwrap().executed());
        // Nothing recognisable: no chains, no panic.
        assert!(BlockProgress::from_json(&json!(null)).chains.is_empty());
        assert!(BlockProgress::from_json(&json!({"chains": 5}))
            .chains
            .is_empty());
    }

    #[test]
    fn ranks_follow_the_settlement_order() {
        assert!(rank("committed") < rank("proven"));
        assert_eq!(rank("Synchronized"), rank("synced"));
        assert!(rank("confirmed") < rank("executed"));
        assert_eq!(rank("weird"), None);
    }

    #[test]
    fn the_progress_line_names_each_chains_stage() {
        let chains = vec![
            ("primary".to_owned(), "executed".to_owned()),
            ("alpha".to_owned(), "synced".to_owned()),
            ("beta".to_owned(), "committed".to_owned()),
        ];
        assert_eq!(
            render_progress(Some(12), &chains),
            "block 12: primary executed, alpha synced, beta committed"
        );
        assert_eq!(
            render_progress(None, &[]),
            "waiting for the block: no chain has it yet"
        );
    }

    #[test]
    fn a_terminal_rewrites_the_line_and_a_pipe_appends_lines() {
        let mut tty = Progress::new(true);
        assert_eq!(
            tty.update("block 3: a committed").unwrap(),
            "\rblock 3: a committed"
        );
        assert_eq!(
            tty.update("block 3: a committed"),
            None,
            "unchanged: nothing written"
        );
        // Shorter than before: padded over the rest of the old line.
        assert_eq!(
            tty.update("block 3: a done").unwrap(),
            "\rblock 3: a done     "
        );
        assert_eq!(tty.finish().as_deref(), Some("\n"));
        assert_eq!(tty.finish(), None);

        let mut pipe = Progress::new(false);
        assert_eq!(pipe.update("one").unwrap(), "one\n");
        assert_eq!(pipe.update("one"), None);
        assert_eq!(pipe.update("two").unwrap(), "two\n");
        assert_eq!(pipe.finish(), None);
    }
}
