//! The node's JSON-RPC, as the wallet uses it.
//!
//! Requests and answers are plain JSON (see `modules/rpc/src/api.rs` for the server's
//! side), so the wallet does not depend on the server's crate. Accounts and receipts are
//! read into the shared types' serde forms; status answers, whose shape is still growing,
//! stay `serde_json::Value`.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy_primitives::{Address, B256};
use jsonrpsee_core::client::{ClientT, Error as ClientError};
use jsonrpsee_core::params::ArrayParams;
use jsonrpsee_core::rpc_params;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use manyfold_types::{AccountId, Amount, L2Tx, Nonce, PubKeyHash, Receipt, TokenId};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::chains::NodeChainInfo;
use crate::error::{Result, WalletError};

/// JSON-RPC's "method not found".
const METHOD_NOT_FOUND: i32 = -32601;

/// An L2 account as `manyfold_getAccount` serves it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
    /// Non-zero balances by token.
    #[serde(default)]
    pub balances: BTreeMap<TokenId, Amount>,
}

/// A client of one node.
#[derive(Debug)]
pub(crate) struct Node {
    url: String,
    client: HttpClient,
}

impl Node {
    pub(crate) fn new(url: &str) -> Result<Self> {
        let client = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .build(url)
            .map_err(|e| WalletError::Node {
                url: url.to_owned(),
                message: format!("not a usable URL: {e}"),
            })?;
        Ok(Self {
            url: url.to_owned(),
            client,
        })
    }

    async fn call<T: DeserializeOwned>(&self, method: &str, params: ArrayParams) -> Result<T> {
        self.client
            .request(method, params)
            .await
            .map_err(|e| self.error(method, e))
    }

    fn error(&self, method: &str, error: ClientError) -> WalletError {
        match error {
            ClientError::Call(e) => WalletError::Refused {
                method: method.to_owned(),
                message: match e.data() {
                    Some(data) => format!("{} ({})", e.message(), data.get()),
                    None => e.message().to_owned(),
                },
            },
            ClientError::ParseError(e) => WalletError::Node {
                url: self.url.clone(),
                message: format!("unreadable answer to {method}: {e}"),
            },
            ClientError::RequestTimeout => WalletError::Node {
                url: self.url.clone(),
                message: format!("no answer to {method} within 30 s"),
            },
            other => WalletError::Node {
                url: self.url.clone(),
                message: format!("cannot reach the node ({method}): {other}"),
            },
        }
    }

    /// `manyfold_chains`.
    pub(crate) async fn chains(&self) -> Result<Vec<NodeChainInfo>> {
        self.call("manyfold_chains", rpc_params![]).await
    }

    /// `manyfold_getAccount` by address.
    pub(crate) async fn account(&self, address: Address) -> Result<Option<AccountView>> {
        self.call("manyfold_getAccount", rpc_params![address]).await
    }

    /// `manyfold_getAccount` by id.
    pub(crate) async fn account_by_id(&self, id: AccountId) -> Result<Option<AccountView>> {
        let quantity = format!("{:#x}", id.get());
        self.call("manyfold_getAccount", rpc_params![quantity])
            .await
    }

    /// `manyfold_sendTransaction`.
    pub(crate) async fn send(&self, tx: &L2Tx) -> Result<B256> {
        self.call("manyfold_sendTransaction", rpc_params![tx]).await
    }

    /// `manyfold_getTransactionReceipt`.
    pub(crate) async fn receipt(&self, hash: B256) -> Result<Option<Receipt>> {
        self.call("manyfold_getTransactionReceipt", rpc_params![hash])
            .await
    }

    /// `manyfold_getSettlementStatus` of block `number`, or the latest with `None`.
    pub(crate) async fn settlement_status(&self, number: Option<u32>) -> Result<Option<Value>> {
        let tag = match number {
            Some(n) => format!("{n:#x}"),
            None => "latest".to_owned(),
        };
        let value: Value = self
            .call("manyfold_getSettlementStatus", rpc_params![tag])
            .await?;
        Ok((!value.is_null()).then_some(value))
    }

    /// `manyfold_getTransactionStatus`; `Ok(None)` also when the node predates the method
    /// (the caller falls back to the receipt and the block's status).
    pub(crate) async fn transaction_status(&self, hash: B256) -> Result<Option<Value>> {
        match self
            .client
            .request::<Value, _>("manyfold_getTransactionStatus", rpc_params![hash])
            .await
        {
            Ok(Value::Null) => Ok(None),
            Ok(value) => Ok(Some(value)),
            Err(ClientError::Call(e)) if e.code() == METHOD_NOT_FOUND => Ok(None),
            Err(e) => Err(self.error("manyfold_getTransactionStatus", e)),
        }
    }
}

/// The next nonce a refusal names, for a nonce already used by a transaction still
/// waiting in the mempool: the mempool says "… is already used; next is N".
pub(crate) fn next_nonce_hint(error: &WalletError) -> Option<u32> {
    let WalletError::Refused { message, .. } = error else {
        return None;
    };
    if !message.contains("already used") {
        return None;
    }
    let (_, rest) = message.split_once("next is ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accounts_are_read_in_the_servers_shape() {
        let value = json!({
            "id": "0x3",
            "address": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
            "pubkeyHash": format!("0x{}", "00".repeat(32)),
            "nonce": 2,
            "balances": {"0x0": "0xde0b6b3a7640000", "0x5": "0x1"},
            "proof": null
        });
        let view: AccountView = serde_json::from_value(value).unwrap();
        assert_eq!(view.id.get(), 3);
        assert_eq!(view.nonce, Nonce(2));
        assert_eq!(view.pubkey_hash, PubKeyHash::NONE);
        assert_eq!(
            view.balances[&TokenId::new(0).unwrap()],
            Amount(10u128.pow(18))
        );
        assert_eq!(view.balances[&TokenId::new(5).unwrap()], Amount(1));
    }

    #[test]
    fn the_mempools_nonce_hint_is_read() {
        let refused = |message: &str| WalletError::Refused {
            method: "manyfold_sendTransaction".into(),
            message: message.into(),
        };
        assert_eq!(
            next_nonce_hint(&refused("nonce 2 of account 3 is already used; next is 4")),
            Some(4)
        );
        assert_eq!(
            next_nonce_hint(&refused("nonce 5 of account 3 leaves a gap; next is 4")),
            None
        );
        assert_eq!(next_nonce_hint(&WalletError::usage("x")), None);
    }
}
