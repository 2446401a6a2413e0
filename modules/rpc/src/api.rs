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

    /// A sealed block by number, or the latest with `"latest"`.
    #[method(name = "getBlockByNumber")]
    async fn get_block_by_number(&self, number: BlockTag) -> RpcResult<Option<Block>>;

    /// The receipt of a transaction, once its block is sealed.
    #[method(name = "getTransactionReceipt")]
    async fn get_transaction_receipt(&self, hash: B256) -> RpcResult<Option<Receipt>>;

    /// Where a block stands on each configured chain.
    #[method(name = "getSettlementStatus")]
    async fn get_settlement_status(&self, number: BlockTag) -> RpcResult<Option<SettlementStatus>>;

    /// The configured settlement chains.
    #[method(name = "chains")]
    async fn chains(&self) -> RpcResult<Vec<ChainInfo>>;

    /// Devnet only: injects a priority op as if a chain watcher had read it from a chain.
    #[method(name = "submitPriorityOp")]
    async fn submit_priority_op(&self, op: PriorityOp) -> RpcResult<()>;

    /// Every newly sealed block.
    #[subscription(name = "subscribeNewBlocks" => "newBlock", unsubscribe = "unsubscribeNewBlocks", item = Block)]
    async fn subscribe_new_blocks(&self) -> SubscriptionResult;

    /// Every change of a block's stage (sealed, then per chain committed, proven,
    /// synchronized, executed).
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
}

/// Stage of a block on one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Sealed by the node, not yet on the chain.
    Sealed,
    /// Block data committed.
    Committed,
    /// Proof verified (primary only).
    Proven,
    /// Sync hashes agreed and the confirmation delivered.
    Synchronized,
    /// Executed: withdrawals claimable.
    Executed,
}

/// A block's stage on every configured chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementStatus {
    /// Block number.
    #[serde(with = "manyfold_types::quantity")]
    pub number: u32,
    /// Block hash.
    pub hash: B256,
    /// Per chain.
    pub chains: Vec<ChainStage>,
}

/// A block's stage on one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainStage {
    /// The chain.
    pub chain: ChainId,
    /// Its stage there.
    pub stage: Stage,
}

/// A block reaching a stage, on a chain or (for `sealed`) in the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    /// Block number.
    #[serde(with = "manyfold_types::quantity")]
    pub number: u32,
    /// The chain, absent for `sealed`.
    pub chain: Option<ChainId>,
    /// The new stage.
    pub stage: Stage,
}
