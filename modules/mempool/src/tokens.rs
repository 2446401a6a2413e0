//! What each chain can pay out: the tokens registered on its settlement contract, with
//! their decimals there. A withdrawal the destination chain cannot pay exactly (a token it
//! does not carry, or an amount with digits below its precision) would leave the funds
//! stuck on L2's side of the exit, so the pool refuses it up front.

use std::collections::BTreeMap;

use manyfold_types::amount::L2_DECIMALS;
use manyfold_types::{Amount, ChainId, TokenId};

use crate::MempoolError;

/// Per chain, the registered tokens and their decimals on that chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRegistry(BTreeMap<(ChainId, TokenId), u8>);

impl TokenRegistry {
    /// No token anywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `token` as registered on `chain` with `decimals` there.
    pub fn register(&mut self, chain: ChainId, token: TokenId, decimals: u8) {
        self.0.insert((chain, token), decimals);
    }

    /// Refuses a withdrawal of `amount` of `token` to `chain` that the chain could not pay
    /// exactly.
    pub fn check_withdraw(
        &self,
        chain: ChainId,
        token: TokenId,
        amount: Amount,
    ) -> Result<(), MempoolError> {
        let decimals = *self
            .0
            .get(&(chain, token))
            .ok_or(MempoolError::TokenNotOnChain { chain, token })?;
        if amount.to_local(decimals).is_err() {
            return Err(MempoolError::BelowPrecision {
                chain,
                token,
                decimals,
                unit: 10u128.pow(u32::from(L2_DECIMALS.saturating_sub(decimals))),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn withdrawals_a_chain_cannot_pay_exactly_are_refused() {
        let (a, b) = (ChainId::new(0).unwrap(), ChainId::new(1).unwrap());
        let usdc = TokenId::new(1).unwrap();
        let mut tokens = TokenRegistry::new();
        tokens.register(a, usdc, 6);
        assert_eq!(
            tokens.check_withdraw(b, usdc, Amount(10u128.pow(12))),
            Err(MempoolError::TokenNotOnChain {
                chain: b,
                token: usdc
            })
        );
        tokens
            .check_withdraw(a, usdc, Amount(3 * 10u128.pow(12)))
            .unwrap();
        let err = tokens
            .check_withdraw(a, usdc, Amount(10u128.pow(12) + 1))
            .unwrap_err();
        assert_eq!(
            err,
            MempoolError::BelowPrecision {
                chain: a,
                token: usdc,
                decimals: 6,
                unit: 10u128.pow(12)
            }
        );
        assert!(err.to_string().contains("6-decimal"), "{err}");
    }
}
