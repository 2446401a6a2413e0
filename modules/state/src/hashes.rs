//! The keccak hash chains of DESIGN §2 that the contracts compute on-chain.

use alloy_primitives::{keccak256, B256};
use manyfold_types::field::fr_to_be_bytes;
use manyfold_types::{ChainId, Fr, OpPubdata};

use crate::StateError;

/// `keccak256("")`: the initial ops hash of every block and chain, and the sync hash of
/// block 0.
pub const EMPTY: B256 =
    alloy_primitives::b256!("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");

/// The ops hash of one block for `chain`: `EMPTY`, then
/// `keccak256(opsHash ‖ opPubdata)` for each op of the block addressed to `chain`.
pub fn ops_hash<'a>(chain: ChainId, block_ops: impl IntoIterator<Item = &'a OpPubdata>) -> B256 {
    block_ops
        .into_iter()
        .filter(|op| op.onchain_for() == Some(chain))
        .fold(EMPTY, |acc, op| {
            keccak256([acc.as_slice(), &op.encode()].concat())
        })
}

/// The next link of a chain's sync hash:
/// `keccak256(abi.encodePacked(previous, uint32 blockNumber, newStateRoot, opsHash))`.
///
/// The primary skips this update for a chain whose ops hash is [`EMPTY`]; see
/// [`SyncHashes`].
pub fn sync_hash(previous: B256, block_number: u32, new_state_root: Fr, ops_hash: B256) -> B256 {
    keccak256(
        [
            previous.as_slice(),
            &block_number.to_be_bytes(),
            &fr_to_be_bytes(&new_state_root),
            ops_hash.as_slice(),
        ]
        .concat(),
    )
}

/// Every chain's sync hash as the primary tracks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncHashes(pub Vec<B256>);

impl SyncHashes {
    /// All chains at block 0.
    pub fn genesis(chains: usize) -> Self {
        Self(vec![EMPTY; chains])
    }

    /// Advances every chain touched by the block; untouched chains keep their hash. An op
    /// addressed to a chain outside the set is refused, never dropped: the primary's
    /// contract would refuse the block, and a silent drop would hide that.
    pub fn advance(
        &mut self,
        block_number: u32,
        new_state_root: Fr,
        block_ops: &[OpPubdata],
    ) -> Result<(), StateError> {
        if let Some(chain) = block_ops
            .iter()
            .filter_map(OpPubdata::onchain_for)
            .find(|c| usize::from(c.get()) >= self.0.len())
        {
            return Err(StateError::UnknownChain {
                chain,
                chains: self.0.len(),
            });
        }
        for (c, hash) in self.0.iter_mut().enumerate() {
            let chain = ChainId::new(c as u16).expect("at most ChainId::MAX + 1 chains");
            let ops = ops_hash(chain, block_ops);
            if ops != EMPTY {
                *hash = sync_hash(*hash, block_number, new_state_root, ops);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use manyfold_types::{AccountId, Address, Amount, TokenId};

    #[test]
    fn empty_is_keccak_of_nothing() {
        assert_eq!(EMPTY, keccak256([]));
    }

    #[test]
    fn ops_hash_takes_only_the_chains_ops_in_order() {
        let c0 = ChainId::new(0).unwrap();
        let c1 = ChainId::new(1).unwrap();
        let withdraw = |chain, amount| OpPubdata::Withdraw {
            chain,
            account: AccountId::new(1).unwrap(),
            token: TokenId::new(0).unwrap(),
            amount: Amount(amount),
            address: Address::ZERO,
        };
        let ops = [
            withdraw(c0, 1),
            OpPubdata::Noop,
            withdraw(c1, 2),
            withdraw(c0, 3),
        ];
        let expected = keccak256(
            [
                keccak256([EMPTY.as_slice(), &ops[0].encode()].concat()).as_slice(),
                &ops[3].encode(),
            ]
            .concat(),
        );
        assert_eq!(ops_hash(c0, &ops), expected);
        assert_ne!(ops_hash(c0, [&ops[3], &ops[0]]), expected);
        assert_eq!(ops_hash(ChainId::new(2).unwrap(), &ops), EMPTY);

        let mut sync = SyncHashes::genesis(3);
        sync.advance(1, Fr::from(5u64), &ops).unwrap();
        assert_eq!(sync.0[0], sync_hash(EMPTY, 1, Fr::from(5u64), expected));
        assert_eq!(
            sync.0[2], EMPTY,
            "a chain the block does not touch keeps its hash"
        );
    }

    /// Issue 9 item 3: an op for a chain outside the set is refused, not dropped.
    #[test]
    fn an_op_for_an_unknown_chain_is_refused_not_dropped() {
        let op = OpPubdata::Withdraw {
            chain: ChainId::new(3).unwrap(),
            account: AccountId::new(1).unwrap(),
            token: TokenId::new(0).unwrap(),
            amount: Amount(0),
            address: Address::ZERO,
        };
        let mut sync = SyncHashes::genesis(3);
        let before = sync.clone();
        assert!(matches!(
            sync.advance(1, Fr::from(5u64), &[op]),
            Err(StateError::UnknownChain { chains: 3, .. })
        ));
        assert_eq!(sync, before, "a refused block changes no hash");
    }
}
