//! A settlement chain as the wallet uses it: reads of the settlement contract and of
//! balances, and transactions signed here and sent raw, each awaited until mined.
//!
//! The calls use the `Primary` bindings on every chain: the functions the wallet calls
//! (`depositNative`, `depositERC20`, `withdrawPendingBalance`, `pendingBalances`,
//! `priorityFee`, `tokens`, `nativeTokenId`, `chainId`) are the shared `Settlement`
//! contract's, with the same selectors on the primary and the secondaries.

use std::time::{Duration, Instant};

use alloy_consensus::TxEip1559;
use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use alloy_sol_types::{SolCall, SolInterface};
use manyfold_chain::{
    BlockId, BlockTag, CallRequest, ChainError, ChainFees, ChainReader, ChainSender, Log, LogFilter,
};
use manyfold_chain_evm::{EvmChain, EvmConfig};
use manyfold_contracts::bindings::{Primary, Secondary};
use manyfold_sender::{LocalSigner, TxSigner};
use manyfold_types::{ChainId, TokenId};

use crate::chains::ChainEntry;
use crate::error::{Result, WalletError};
use crate::keys::EthKey;

alloy_sol_types::sol! {
    /// The ERC-20 functions a deposit needs.
    #[allow(missing_docs)]
    interface IERC20 {
        function approve(address spender, uint256 amount) external returns (bool);
        function allowance(address owner, address spender) external view returns (uint256);
        function balanceOf(address owner) external view returns (uint256);
    }
}

/// How often a transaction's receipt is asked for.
const RECEIPT_POLL: Duration = Duration::from_millis(500);

/// A token as a settlement contract registered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenInfo {
    /// The L2 id.
    pub(crate) id: TokenId,
    /// The local token; zero for the native coin.
    pub(crate) address: Address,
    /// Local decimals.
    pub(crate) decimals: u8,
    /// The smallest deposit, in local units.
    pub(crate) min_deposit: u128,
}

/// One settlement chain, connected.
#[derive(Debug)]
pub(crate) struct L1 {
    name: String,
    l2_id: ChainId,
    chain: EvmChain,
    evm_chain_id: u64,
    settlement: Option<Address>,
}

impl L1 {
    /// Connects to the chain's endpoint, checking its EVM chain id when one is known.
    pub(crate) async fn connect(entry: &ChainEntry) -> Result<Self> {
        let mut config = EvmConfig::new(entry.name.clone(), entry.rpc_url()?.clone());
        config.chain_id = entry.evm_chain_id;
        // A person is waiting: fail within seconds rather than retry for a minute.
        config.max_retries = 1;
        let chain = EvmChain::connect(config)
            .await
            .map_err(|e| WalletError::chain(&entry.name, e))?;
        let evm_chain_id = match entry.evm_chain_id {
            Some(id) => id,
            None => chain
                .chain_id()
                .await
                .map_err(|e| WalletError::chain(&entry.name, e))?,
        };
        Ok(Self {
            name: entry.name.clone(),
            l2_id: entry.id,
            chain,
            evm_chain_id,
            settlement: entry.settlement,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn evm_chain_id(&self) -> u64 {
        self.evm_chain_id
    }

    pub(crate) fn fail(&self, error: impl std::fmt::Display) -> WalletError {
        WalletError::chain(&self.name, error)
    }

    pub(crate) fn settlement(&self) -> Result<Address> {
        self.settlement.ok_or_else(|| {
            WalletError::usage(format!(
                "the settlement contract of chain {} is unknown: the node does not report it; \
                 pass --deployment FILE",
                self.name
            ))
        })
    }

    /// Calls a view function of `to` at the latest block.
    pub(crate) async fn read<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return> {
        let bytes = self
            .chain
            .call(
                CallRequest::new(to, call.abi_encode()),
                BlockId::Tag(BlockTag::Latest),
            )
            .await
            .map_err(|e| self.fail(describe(&e)))?;
        C::abi_decode_returns(&bytes).map_err(|e| {
            self.fail(format!(
                "unexpected answer from {to} to {}: {e} (is it a Manyfold settlement contract?)",
                C::SIGNATURE
            ))
        })
    }

    /// Checks that the settlement contract is the one of this L2 chain id.
    pub(crate) async fn check_contract(&self) -> Result<Address> {
        let settlement = self.settlement()?;
        let id = self.read(settlement, Primary::chainIdCall {}).await?;
        if id != self.l2_id.get() {
            return Err(self.fail(format!(
                "the settlement contract {settlement} says it is L2 chain {id}, not {}: \
                 check --deployment and --chain-rpc",
                self.l2_id
            )));
        }
        Ok(settlement)
    }

    /// The registration of `token` on this chain's contract; an error when it has none.
    pub(crate) async fn token(&self, token: TokenId) -> Result<TokenInfo> {
        let info = self
            .read(self.settlement()?, Primary::tokensCall(token.get()))
            .await?;
        if !info.registered {
            return Err(WalletError::usage(format!(
                "token {token} is not registered on chain {}",
                self.name
            )));
        }
        Ok(TokenInfo {
            id: token,
            address: info.token,
            decimals: info.decimals,
            min_deposit: info.minDeposit,
        })
    }

    /// The L2 token id of this chain's native coin.
    pub(crate) async fn native_token(&self) -> Result<TokenId> {
        let settlement = self.settlement()?;
        if !self
            .read(settlement, Primary::nativeTokenRegisteredCall {})
            .await?
        {
            return Err(WalletError::usage(format!(
                "chain {} has no native-coin token registered",
                self.name
            )));
        }
        let id = self.read(settlement, Primary::nativeTokenIdCall {}).await?;
        TokenId::new(id).map_err(|e| self.fail(e))
    }

    /// The fee of a priority request, in wei.
    pub(crate) async fn priority_fee(&self) -> Result<U256> {
        self.read(self.settlement()?, Primary::priorityFeeCall {})
            .await
    }

    /// What `owner` can claim of `token`, in local units.
    pub(crate) async fn pending_balance(&self, owner: Address, token: TokenId) -> Result<U256> {
        self.read(
            self.settlement()?,
            Primary::pendingBalancesCall {
                _0: owner,
                _1: token.get(),
            },
        )
        .await
    }

    /// The native coin balance of `owner`, in wei.
    pub(crate) async fn native_balance(&self, owner: Address) -> Result<U256> {
        self.chain
            .balance(owner, BlockId::Tag(BlockTag::Latest))
            .await
            .map_err(|e| self.fail(e))
    }

    /// The chain's newest block.
    pub(crate) async fn latest(&self) -> Result<manyfold_chain::BlockRef> {
        self.chain
            .head(BlockTag::Latest)
            .await
            .map_err(|e| self.fail(e))
    }

    /// The logs `filter` selects.
    pub(crate) async fn logs(&self, filter: LogFilter) -> Result<Vec<Log>> {
        self.chain.logs(filter).await.map_err(|e| self.fail(e))
    }

    /// The calldata of transaction `hash`, which must be known to the chain.
    pub(crate) async fn input_of(&self, hash: B256) -> Result<Bytes> {
        self.chain
            .transaction_input(hash)
            .await
            .map_err(|e| self.fail(e))?
            .ok_or_else(|| self.fail(format!("the endpoint does not know transaction {hash}")))
    }

    /// Signs, sends and awaits a call of `to` from `key`'s account; returns its hash once
    /// it is mined and succeeded. `what` names it in progress lines and errors.
    pub(crate) async fn send(
        &self,
        key: &EthKey,
        to: Address,
        input: Vec<u8>,
        value: U256,
        what: &str,
        timeout: Duration,
    ) -> Result<B256> {
        let from = key.address();
        let input = Bytes::from(input);
        let call = CallRequest {
            from: Some(from),
            to,
            input: input.clone(),
            value,
            gas: None,
        };
        let gas = self
            .chain
            .estimate_gas(call)
            .await
            .map_err(|e| self.fail(format!("{what} would fail: {}", describe(&e))))?;
        // Headroom over the estimate: state can move between the estimate and inclusion.
        let gas_limit = gas.saturating_add(gas / 5);
        let fees = self.chain.estimate_fees().await.map_err(|e| self.fail(e))?;
        let nonce = self
            .chain
            .nonce(from, BlockId::Tag(BlockTag::Latest))
            .await
            .map_err(|e| self.fail(e))?;
        let needed = value
            .saturating_add(U256::from(gas_limit).saturating_mul(U256::from(fees.max_fee_per_gas)));
        let balance = self.native_balance(from).await?;
        if balance < needed {
            return Err(self.fail(format!(
                "insufficient funds for {what}: {from} holds {balance} wei, {needed} wei needed \
                 (value and gas at most)"
            )));
        }
        let tx = TxEip1559 {
            chain_id: self.evm_chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas.min(fees.max_fee_per_gas),
            to: TxKind::Call(to),
            value,
            access_list: Default::default(),
            input,
        };
        let signer = LocalSigner::from_bytes(&key.secret().0)
            .map_err(|e| WalletError::Key(e.to_string()))?;
        let signed = signer
            .sign(&tx)
            .map_err(|e| WalletError::Key(e.to_string()))?;
        let hash = match self.chain.send_raw(signed.raw).await {
            Ok(hash) => hash,
            Err(ChainError::AlreadyKnown) => signed.hash,
            Err(e) => return Err(self.fail(format!("sending {what}: {}", describe(&e)))),
        };
        eprintln!(
            "{what} sent on chain {}: {hash}; waiting for it to be mined",
            self.name
        );
        self.wait_mined(hash, what, timeout).await?;
        Ok(hash)
    }

    async fn wait_mined(&self, hash: B256, what: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.chain.receipt(hash).await {
                Ok(Some(receipt)) if receipt.success => return Ok(()),
                Ok(Some(_)) => {
                    return Err(WalletError::Failed {
                        hash,
                        reason: format!("{what} reverted on chain {}", self.name),
                    })
                }
                Ok(None) => {}
                // A transient failure of the endpoint: ask again until the deadline.
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(self.fail(e)),
            }
            if Instant::now() >= deadline {
                return Err(WalletError::Timeout {
                    seconds: timeout.as_secs(),
                    what: format!("{what} {hash} is not mined on chain {} yet", self.name),
                });
            }
            tokio::time::sleep(RECEIPT_POLL).await;
        }
    }
}

/// A chain error, with a revert's custom error decoded from the settlement contracts'
/// ABI where it is one of theirs.
pub(crate) fn describe(error: &ChainError) -> String {
    match error {
        ChainError::Reverted { data, reason, .. } => match decode_revert(data) {
            Some(decoded) => format!("the contract refuses it: {decoded}"),
            None => match reason {
                Some(reason) => format!("reverted: {reason}"),
                None if data.is_empty() => "reverted".to_owned(),
                None => format!("reverted with {data}"),
            },
        },
        other => other.to_string(),
    }
}

/// `DepositTooSmall { token: 1, minimum: 1000, amount: 5 }` for the data of a settlement
/// contract's custom error.
pub(crate) fn decode_revert(data: &[u8]) -> Option<String> {
    let debug = if let Ok(e) = Primary::PrimaryErrors::abi_decode(data) {
        format!("{e:?}")
    } else if let Ok(e) = Secondary::SecondaryErrors::abi_decode(data) {
        format!("{e:?}")
    } else {
        return None;
    };
    // `Name(Name { .. })` is the enum's Debug; keep the inner struct.
    Some(match debug.split_once('(') {
        Some((name, rest)) if rest.starts_with(name) => {
            rest.strip_suffix(')').unwrap_or(rest).to_owned()
        }
        _ => debug,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::SolError;

    #[test]
    fn custom_errors_are_decoded_by_name() {
        let data = Primary::DepositTooSmall {
            token: 1,
            minimum: U256::from(1000),
            amount: U256::from(5),
        }
        .abi_encode();
        let text = decode_revert(&data).unwrap();
        assert!(text.starts_with("DepositTooSmall {"), "{text}");
        assert!(text.contains("minimum: 1000"), "{text}");
        let nothing = Primary::NothingToWithdraw {}.abi_encode();
        assert_eq!(decode_revert(&nothing).unwrap(), "NothingToWithdraw");
        assert_eq!(decode_revert(&[1, 2, 3]), None);
        let error = ChainError::Reverted {
            tx: None,
            reason: None,
            data: data.into(),
        };
        assert!(describe(&error).starts_with("the contract refuses it: DepositTooSmall"));
    }
}
