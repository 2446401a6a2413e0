//! The API definition and the JSON shapes it uses.

use std::collections::BTreeMap;

use alloy_primitives::{Address, Bytes, B256};
use jsonrpsee::core::{RpcResult, SubscriptionResult};
use jsonrpsee::proc_macros::rpc;
use manyfold_types::{
    AccountId, Amount, Block, ChainId, L2Tx, Nonce, PriorityOp, PubKeyHash, Receipt, TokenId,
};
use serde::{Deserialize, Serialize};

/// The Manyfold API. Method names are `manyfold_` + the name given here.
#[rpc(server, client, namespace = "manyfold")]
pub trait ManyfoldApi {
    /// Submits a signed L2 transaction; returns its hash once it is durably in the mempool.
    #[method(name = "sendTransaction")]
    async fn send_transaction(&self, tx: L2Tx) -> RpcResult<B256>;

    /// Submits a transaction in its canonical binary encoding.
    #[method(name = "sendRawTransaction")]
    async fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256>;

    /// An account by id or address, with its balances; with `proof` set, Merkle proofs of
    /// the account leaf and of each balance against the current state root.
    #[method(name = "getAccount")]
    async fn get_account(
        &self,
        account: AccountRef,
        proof: Option<bool>,
    ) -> RpcResult<Option<AccountView>>;

    /// An account with Merkle proofs of its leaf and of each balance at the state of the
    /// primary's last executed block: the root an exodus exit is checked against (DESIGN
    /// §4), and that block's number. Null for an account unknown there, or before the
    /// primary executed any block.
    #[method(name = "getExitProof")]
    async fn get_exit_proof(&self, account: AccountRef) -> RpcResult<Option<ExitProofView>>;

    /// A sealed block by number, or the latest with `"latest"`.
    #[method(name = "getBlockByNumber")]
    async fn get_block_by_number(&self, number: BlockTag) -> RpcResult<Option<Block>>;

    /// The receipt of a transaction, once its block is sealed.
    #[method(name = "getTransactionReceipt")]
    async fn get_transaction_receipt(&self, hash: B256) -> RpcResult<Option<Receipt>>;

    /// Where a block stands on each configured chain: the stages it reached there, each
    /// with its transaction and time. `null` for a block not sealed.
    #[method(name = "getSettlementStatus")]
    async fn get_settlement_status(&self, number: BlockTag) -> RpcResult<Option<SettlementStatus>>;

    /// A transaction's receipt and the settlement status of the block its receipt names.
    /// `null` for a transaction with no receipt (unknown, or its block not sealed yet).
    #[method(name = "getTransactionStatus")]
    async fn get_transaction_status(&self, hash: B256) -> RpcResult<Option<TransactionStatus>>;

    /// The configured settlement chains.
    #[method(name = "chains")]
    async fn chains(&self) -> RpcResult<Vec<ChainInfo>>;

    /// Devnet only: injects a priority op as if a chain watcher had read it from a chain.
    #[method(name = "submitPriorityOp")]
    async fn submit_priority_op(&self, op: PriorityOp) -> RpcResult<()>;

    /// Every newly sealed block.
    #[subscription(name = "subscribeNewBlocks" => "newBlock", unsubscribe = "unsubscribeNewBlocks", item = Block)]
    async fn subscribe_new_blocks(&self) -> SubscriptionResult;

    /// Every change of a block's stage: `sealed` in the node, then each stage it reaches
    /// on each chain (committed, proven, synced, confirmed, executed), once each.
    #[subscription(name = "subscribeStatus" => "status", unsubscribe = "unsubscribeStatus", item = StatusChange)]
    async fn subscribe_status(&self) -> SubscriptionResult;
}

/// An account named by id (a quantity) or by address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRef {
    /// By id.
    Id(AccountId),
    /// By owner address.
    Address(Address),
}

impl Serialize for AccountRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AccountRef::Id(id) => id.serialize(s),
            AccountRef::Address(a) => a.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for AccountRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() == 42 {
            text.parse()
                .map(AccountRef::Address)
                .map_err(serde::de::Error::custom)
        } else {
            let value = manyfold_types::quantity::parse(&text).map_err(serde::de::Error::custom)?;
            AccountId::try_from(value)
                .map(AccountRef::Id)
                .map_err(serde::de::Error::custom)
        }
    }
}

/// A block number or `"latest"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockTag {
    /// The last sealed block.
    Latest,
    /// A given height.
    Number(u32),
}

impl Serialize for BlockTag {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            BlockTag::Latest => s.serialize_str("latest"),
            BlockTag::Number(n) => manyfold_types::quantity::serialize(n, s),
        }
    }
}

impl<'de> Deserialize<'de> for BlockTag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "latest" {
            return Ok(BlockTag::Latest);
        }
        let value = manyfold_types::quantity::parse(&text).map_err(serde::de::Error::custom)?;
        u32::try_from(value)
            .map(BlockTag::Number)
            .map_err(|_| serde::de::Error::custom("block number beyond u32"))
    }
}

/// An account as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    /// Id.
    pub id: AccountId,
    /// Owner.
    pub address: Address,
    /// Registered key hash (zero: none).
    pub pubkey_hash: PubKeyHash,
    /// Next nonce.
    pub nonce: Nonce,
    /// Non-zero balances by token id.
    pub balances: BTreeMap<TokenId, Amount>,
    /// Proofs, when asked for.
    pub proof: Option<AccountProofView>,
}

/// An account's proofs at the primary's last executed block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitProofView {
    /// The primary's last executed block, whose state root the proofs are against.
    #[serde(with = "manyfold_types::quantity")]
    pub block: u32,
    /// The account as of that block, with its proofs.
    pub account: AccountView,
}

/// Merkle proofs of an account against a state root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountProofView {
    /// The state root proven against.
    pub state_root: B256,
    /// Root of the reserve tree (the other half of the state root).
    pub reserves_root: B256,
    /// Root of the account's balance tree.
    pub balance_root: B256,
    /// Siblings up the account tree, leaf level first, three per level in child order.
    pub account_path: Vec<[B256; 3]>,
    /// One proof per non-zero balance.
    pub balances: Vec<BalanceProofView>,
}

/// A balance with its path in the balance tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceProofView {
    /// Token.
    pub token: TokenId,
    /// Balance.
    pub balance: Amount,
    /// Siblings up the balance tree.
    pub path: Vec<[B256; 3]>,
}

/// A configured settlement chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainInfo {
    /// The rollup's id of the chain.
    pub id: ChainId,
    /// Operator-given name.
    pub name: String,
    /// Plugin kind (`embedded`, `evm`, ...).
    pub kind: String,
    /// Whether this chain verifies proofs.
    pub primary: bool,
    /// Its EIP-155 chain id, once deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evm_chain_id: Option<u64>,
    /// Its settlement contract, once deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement: Option<Address>,
    /// Its Ethereum JSON-RPC endpoint, only where the node serves the chain itself (the
    /// devnet's embedded chains); an external chain's URL is never shown (it may carry a
    /// key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
    /// The L2 tokens its contract registered at deployment.
    #[serde(default)]
    pub tokens: Vec<ChainToken>,
}

/// An L2 token on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainToken {
    /// The L2 token id.
    pub id: TokenId,
    /// The ERC-20 there; the zero address for the native coin.
    pub address: Address,
    /// Its decimals there.
    pub decimals: u8,
}

/// How far a block has come: `sealed` in the node, then, on each chain, the stages of
/// that chain's role in order (DESIGN §1). The primary: committed, proven, synced,
/// executed. A secondary: committed, synced, confirmed, executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Sealed by the node; nothing recorded on the chain yet.
    Sealed,
    /// The chain's contract stored the block (a secondary stores only the blocks that
    /// carry its own ops).
    Committed,
    /// The primary verified a proof covering the block. The primary only.
    Proven,
    /// The primary: every secondary's sync hash for the block is recorded there. A
    /// secondary: its sync hash for the block reached the primary.
    Synced,
    /// The primary's confirmation of the block reached the secondary. Secondaries only.
    Confirmed,
    /// The chain's contract executed the block: its withdrawals can be claimed there.
    Executed,
}

impl From<manyfold_settler::Stage> for Stage {
    fn from(stage: manyfold_settler::Stage) -> Self {
        use manyfold_settler::Stage as S;
        match stage {
            S::Committed => Self::Committed,
            S::Proven => Self::Proven,
            S::Synced => Self::Synced,
            S::Confirmed => Self::Confirmed,
            S::Executed => Self::Executed,
        }
    }
}

/// One stage a block reached on a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageReached {
    /// The stage.
    pub stage: Stage,
    /// The settlement transaction that reached it on the chain; `null` where none of the
    /// node's did (e.g. a block the primary counts as synced because the secondaries'
    /// sync hashes arrived).
    pub tx_hash: Option<B256>,
    /// When the node recorded it, in Unix seconds (a quantity).
    #[serde(with = "manyfold_types::quantity")]
    pub at: u64,
}

impl From<manyfold_settler::StageRecord> for StageReached {
    fn from(record: manyfold_settler::StageRecord) -> Self {
        Self {
            stage: record.stage.into(),
            tx_hash: record.tx,
            at: record.at,
        }
    }
}

/// A block's stages on every configured chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementStatus {
    /// Block number.
    #[serde(with = "manyfold_types::quantity")]
    pub number: u32,
    /// Block hash.
    pub hash: B256,
    /// One entry per configured chain, in the order of `manyfold_chains`.
    pub chains: Vec<ChainStage>,
}

/// A block's stages on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainStage {
    /// The chain.
    pub chain: ChainId,
    /// Whether it is the primary (which stages it passes through depends on it).
    pub primary: bool,
    /// The furthest stage the block reached there: the last of `stages`, or `sealed`
    /// when `stages` is empty.
    pub stage: Stage,
    /// Every stage reached there, in order.
    pub stages: Vec<StageReached>,
    /// Why the chain's settlement is not moving the block on, when it is held there
    /// (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
}

/// A chain's settlement held at a block: why, from which block, since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Held {
    /// `chain_unreachable` clears by itself once the chain answers; the others stop the
    /// chain's pipeline until an operator looks.
    pub reason: manyfold_settler::HoldReason,
    /// The first block held there.
    #[serde(with = "manyfold_types::quantity")]
    pub from_block: u32,
    /// What failed.
    pub detail: String,
    /// When the hold started, in Unix seconds.
    #[serde(with = "manyfold_types::quantity")]
    pub since: u64,
}

impl From<manyfold_settler::Hold> for Held {
    fn from(hold: manyfold_settler::Hold) -> Self {
        Self {
            reason: hold.reason,
            from_block: hold.from_block,
            detail: hold.detail,
            since: hold.since,
        }
    }
}

/// A transaction and where its block stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionStatus {
    /// Its receipt: the block that included it (or, for a failed one, the block in which
    /// it was dropped, which settles nothing of it) and its outcome.
    pub receipt: Receipt,
    /// The settlement status of the receipt's block.
    pub settlement: SettlementStatus,
}

/// A block reaching a stage: `sealed` in the node, or a stage on one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    /// Block number.
    #[serde(with = "manyfold_types::quantity")]
    pub number: u32,
    /// The chain; `null` for `sealed`.
    pub chain: Option<ChainId>,
    /// The stage reached.
    pub stage: Stage,
    /// The settlement transaction that reached it; `null` for `sealed` and where none
    /// of the node's did.
    pub tx_hash: Option<B256>,
    /// When, in Unix seconds (a quantity): the block's timestamp for `sealed`, the time
    /// the node recorded the stage otherwise.
    #[serde(with = "manyfold_types::quantity")]
    pub at: u64,
}

impl StatusChange {
    /// `block` sealed.
    pub fn sealed(block: &Block) -> Self {
        Self {
            number: block.number,
            chain: None,
            stage: Stage::Sealed,
            tx_hash: None,
            at: block.timestamp,
        }
    }
}

impl From<manyfold_settler::StageChange> for StatusChange {
    fn from(change: manyfold_settler::StageChange) -> Self {
        let reached = StageReached::from(change.record);
        Self {
            number: change.block,
            chain: Some(change.chain),
            stage: reached.stage,
            tx_hash: reached.tx_hash,
            at: reached.at,
        }
    }
}
