//! The chain set, fixed at genesis (DESIGN §1).
//!
//! The L2 is settled on chains `0..n-1`; an op naming any other chain id is invalid in the
//! state, the circuit and the contracts, so that nobody can post an op that the primary's
//! commit would refuse (which would halt settlement for everyone). Each chain carries the
//! EVM chain id and the settlement contract address that ChangePubKey's Ethereum signature
//! binds (DESIGN §4), so an authorisation never replays on another deployment.

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};
use crate::ChainId;

/// Where one L2 chain id settles: what a signature checked by its contract must bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainDomain {
    /// The EVM chain id (`block.chainid`).
    pub evm_chain_id: u64,
    /// The settlement contract (`address(this)` in the contract that checks signatures).
    pub settlement: Address,
}

/// The chains of one L2, indexed by their L2 chain id `0..n-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainSet {
    chains: Vec<ChainDomain>,
}

impl ChainSet {
    /// The set whose chain `i` is `chains[i]`: at least one chain, at most
    /// [`ChainId::MAX`]` + 1`.
    pub fn new(chains: Vec<ChainDomain>) -> Result<Self> {
        if chains.is_empty() || chains.len() > usize::from(ChainId::MAX) + 1 {
            return Err(invalid(
                "chain set",
                format!(
                    "{} chains; between 1 and {} are supported",
                    chains.len(),
                    usize::from(ChainId::MAX) + 1
                ),
            ));
        }
        Ok(Self { chains })
    }

    /// `n` chains with placeholder domains (EVM chain ids `31337 + i`, contract addresses
    /// `0x…01`, `0x…02`, …): for tests, benches and a node that settles nowhere yet.
    ///
    /// # Panics
    /// If `n` is 0 or above [`ChainId::MAX`]` + 1`.
    pub fn local(n: usize) -> Self {
        let chains = (0..n)
            .map(|i| ChainDomain {
                evm_chain_id: 31_337 + i as u64,
                settlement: Address::with_last_byte(i as u8 + 1),
            })
            .collect();
        Self::new(chains).expect("a local chain set has 1 to 16 chains")
    }

    /// How many chains.
    pub fn len(&self) -> usize {
        self.chains.len()
    }

    /// Never true: a chain set has at least one chain.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }

    /// Whether `chain` is one of the set.
    pub fn contains(&self, chain: ChainId) -> bool {
        usize::from(chain.get()) < self.chains.len()
    }

    /// The domain of `chain`, if it is one of the set.
    pub fn domain(&self, chain: ChainId) -> Option<&ChainDomain> {
        self.chains.get(usize::from(chain.get()))
    }

    /// Every chain id of the set, in order.
    pub fn ids(&self) -> impl Iterator<Item = ChainId> + '_ {
        (0..self.chains.len()).map(|i| ChainId::new(i as u16).expect("at most MAX + 1 chains"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bounded_and_membership_is_by_index() {
        assert!(ChainSet::new(Vec::new()).is_err());
        let too_many = ChainSet::local(16).chains.repeat(2);
        assert!(ChainSet::new(too_many).is_err());
        let set = ChainSet::local(3);
        assert_eq!(set.len(), 3);
        assert!(set.contains(ChainId::new(2).unwrap()));
        assert!(!set.contains(ChainId::new(3).unwrap()));
        assert!(set.domain(ChainId::new(3).unwrap()).is_none());
        assert_eq!(set.ids().count(), 3);
        assert_ne!(
            set.domain(ChainId::new(0).unwrap()),
            set.domain(ChainId::new(1).unwrap())
        );
    }
}
