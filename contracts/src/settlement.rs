//! The contracts' block bookkeeping, reproduced in Rust: what each contract stores for a
//! block, and the commit call that makes it store exactly that.
//!
//! Every settlement call presents the `StoredBlockInfo` of a block the contract committed,
//! so the node must know those structs without reading them back from a chain. The
//! primary's [`PrimaryBookkeeping`] and each secondary's [`SecondaryBookkeeping`] follow
//! the contracts' rules (DESIGN §2): per-chain ops hashes and sync hashes, the Poseidon
//! pubdata commitment, this chain's priority count, the secondary's block sequence. The
//! shared vectors check them against the contracts.

use alloy_primitives::{keccak256, Bytes, B256, U256};
use manyfold_state::hashes::{ops_hash, sync_hash, SyncHashes, EMPTY};
use manyfold_types::block::fr_to_b256;
use manyfold_types::ecdsa::EthSignature;
use manyfold_types::pubdata::extend_commitment;
use manyfold_types::{ChainId, Fr, OpPubdata};

use crate::bindings::{Primary, Secondary};

/// What a contract stores (hashed) for one block; the fields of the Solidity struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBlock {
    /// L2 block number.
    pub block_number: u32,
    /// Position among this contract's blocks (the block number on the primary).
    pub block_sequence: u32,
    /// This chain's priority requests the block consumed.
    pub priority_operations: u64,
    /// The L2 block's timestamp.
    pub timestamp: u64,
    /// State root after the block.
    pub state_root: B256,
    /// This chain's ops hash of the block.
    pub ops_hash: B256,
    /// A secondary's sync hash; the primary's digest of every chain's sync hash.
    pub sync_hash: B256,
    /// Pubdata commitment after the block (zero on a secondary).
    pub commitment: B256,
}

impl StoredBlock {
    /// Block 0 as a constructor stores it: the genesis state, no ops.
    pub fn genesis(state_root: B256, sync_hash: B256, commitment: B256) -> Self {
        Self {
            block_number: 0,
            block_sequence: 0,
            priority_operations: 0,
            timestamp: 0,
            state_root,
            ops_hash: EMPTY,
            sync_hash,
            commitment,
        }
    }

    /// `keccak256(abi.encode(info))`, what the contract keeps in `storedBlockHashes`.
    pub fn hash(&self) -> B256 {
        let word = |x: u64| B256::from(U256::from(x));
        keccak256(
            [
                word(self.block_number.into()),
                word(self.block_sequence.into()),
                word(self.priority_operations),
                word(self.timestamp),
                self.state_root,
                self.ops_hash,
                self.sync_hash,
                self.commitment,
            ]
            .concat(),
        )
    }
}

/// The primary's digest of every chain's sync hash: `keccak256(abi.encodePacked(hashes))`.
pub fn sync_digest(hashes: &[B256]) -> B256 {
    keccak256(hashes.concat())
}

macro_rules! convert_stored_block {
    ($module:ident) => {
        impl From<StoredBlock> for $module::StoredBlockInfo {
            fn from(b: StoredBlock) -> Self {
                Self {
                    blockNumber: b.block_number,
                    blockSequence: b.block_sequence,
                    priorityOperations: b.priority_operations,
                    timestamp: b.timestamp,
                    stateRoot: b.state_root,
                    opsHash: b.ops_hash,
                    syncHash: b.sync_hash,
                    commitment: b.commitment,
                }
            }
        }
    };
}
convert_stored_block!(Primary);
convert_stored_block!(Secondary);

/// A sealed block, as settlement needs it.
#[derive(Debug, Clone, Copy)]
pub struct SettlementBlock<'a> {
    /// L2 block number.
    pub number: u32,
    /// Its timestamp.
    pub timestamp: u64,
    /// State root after it.
    pub state_root: Fr,
    /// Every op's pubdata, in order.
    pub ops: &'a [OpPubdata],
    /// The ECDSA signatures of its ChangePubKey ops, in block order, with their chain.
    pub change_pubkey_signatures: &'a [(ChainId, EthSignature)],
}

impl SettlementBlock<'_> {
    fn records_for(&self, chain: Option<ChainId>) -> Bytes {
        self.ops
            .iter()
            .filter(|op| chain.is_none() || op.onchain_for() == chain)
            .flat_map(|op| op.encode())
            .collect::<Vec<u8>>()
            .into()
    }

    fn signatures_for(&self, chain: ChainId) -> Vec<Bytes> {
        self.change_pubkey_signatures
            .iter()
            .filter(|(c, _)| *c == chain)
            .map(|(_, s)| Bytes::copy_from_slice(&s.0))
            .collect()
    }

    fn priority_ops_for(&self, chain: ChainId) -> u64 {
        self.ops
            .iter()
            .filter(|op| op.op_type().is_priority() && op.onchain_for() == Some(chain))
            .count() as u64
    }

    /// This chain's ops of the block, concatenated: what `executeBlocks` takes.
    pub fn ops_for(&self, chain: ChainId) -> Bytes {
        self.records_for(Some(chain))
    }
}

/// Why the bookkeeping refused a block or a stored state. Nothing changes when it does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookkeepingError {
    /// The block is not the next one: blocks are committed in order, each once.
    #[error("block {got} is not the next to commit after block {last}")]
    OutOfOrder {
        /// The last committed block.
        last: u32,
        /// The block offered.
        got: u32,
    },
    /// The block has an op for a chain outside the chain set.
    #[error("block {block} has an op for chain {chain}, outside the {chains} chains settled")]
    UnknownChain {
        /// The block.
        block: u32,
        /// The chain named.
        chain: u16,
        /// How many chains there are.
        chains: usize,
    },
    /// A stored state to resume from does not hold together.
    #[error("cannot resume: {0}")]
    Inconsistent(String),
}

/// One `commitBlocks` entry on the primary and what it makes the contract store.
#[derive(Debug, Clone)]
pub struct PrimaryCommit {
    /// The stored block the call builds on (`last`).
    pub previous: StoredBlock,
    /// Every chain's sync hash after `previous` (`lastSyncHashes`).
    pub previous_sync_hashes: Vec<B256>,
    /// The block as the call carries it.
    pub block: Primary::CommitBlockInfo,
    /// What the contract stores for it.
    pub stored: StoredBlock,
    /// Every chain's sync hash after it.
    pub sync_hashes: Vec<B256>,
}

/// The primary contract's view of the chain of blocks.
#[derive(Debug, Clone)]
pub struct PrimaryBookkeeping {
    chain: ChainId,
    last: StoredBlock,
    commitment: Fr,
    sync: SyncHashes,
}

impl PrimaryBookkeeping {
    /// At genesis, as the constructor stores block 0.
    pub fn genesis(
        chain: ChainId,
        chains: usize,
        genesis_root: Fr,
        genesis_commitment: Fr,
    ) -> Self {
        let sync = SyncHashes::genesis(chains);
        Self {
            chain,
            last: StoredBlock::genesis(
                fr_to_b256(&genesis_root),
                sync_digest(&sync.0),
                fr_to_b256(&genesis_commitment),
            ),
            commitment: genesis_commitment,
            sync,
        }
    }

    /// Resumes after `last`, a block the contract stored, from what the settler kept
    /// with it: the pubdata commitment after it and every chain's sync hash after it.
    /// Both are checked against `last` (its commitment, and its sync hash, the digest of
    /// the chains' hashes), so a store that does not match the contract is refused.
    pub fn resume(
        chain: ChainId,
        last: StoredBlock,
        commitment: Fr,
        sync_hashes: Vec<B256>,
    ) -> Result<Self, BookkeepingError> {
        if fr_to_b256(&commitment) != last.commitment {
            return Err(BookkeepingError::Inconsistent(format!(
                "the commitment kept for block {} is not the one it stored",
                last.block_number
            )));
        }
        if sync_digest(&sync_hashes) != last.sync_hash {
            return Err(BookkeepingError::Inconsistent(format!(
                "the sync hashes kept for block {} do not digest to its sync hash",
                last.block_number
            )));
        }
        if usize::from(chain.get()) >= sync_hashes.len() {
            return Err(BookkeepingError::Inconsistent(format!(
                "chain {chain} is outside the {} chains",
                sync_hashes.len()
            )));
        }
        Ok(Self {
            chain,
            last,
            commitment,
            sync: SyncHashes(sync_hashes),
        })
    }

    /// The last committed block.
    pub fn last(&self) -> StoredBlock {
        self.last
    }

    /// The pubdata commitment after the last committed block (what [`Self::resume`] needs
    /// besides the block and the sync hashes).
    pub fn commitment(&self) -> Fr {
        self.commitment
    }

    /// Every chain's sync hash after the last committed block.
    pub fn sync_hashes(&self) -> &[B256] {
        &self.sync.0
    }

    /// Commits the next block. A block out of order, or with an op for a chain outside
    /// the set, is refused and nothing changes.
    pub fn commit(
        &mut self,
        block: &SettlementBlock<'_>,
    ) -> Result<PrimaryCommit, BookkeepingError> {
        if Some(block.number) != self.last.block_number.checked_add(1) {
            return Err(BookkeepingError::OutOfOrder {
                last: self.last.block_number,
                got: block.number,
            });
        }
        let mut sync = self.sync.clone();
        sync.advance(block.number, block.state_root, block.ops)
            .map_err(|e| match e {
                manyfold_state::StateError::UnknownChain { chain, chains } => {
                    BookkeepingError::UnknownChain {
                        block: block.number,
                        chain: chain.get(),
                        chains,
                    }
                }
                other => BookkeepingError::Inconsistent(other.to_string()),
            })?;
        let previous = self.last;
        let previous_sync_hashes = std::mem::replace(&mut self.sync, sync).0;
        for op in block.ops {
            self.commitment = extend_commitment(self.commitment, op);
        }
        self.last = StoredBlock {
            block_number: block.number,
            block_sequence: block.number,
            priority_operations: block.priority_ops_for(self.chain),
            timestamp: block.timestamp,
            state_root: fr_to_b256(&block.state_root),
            ops_hash: ops_hash(self.chain, block.ops),
            sync_hash: sync_digest(&self.sync.0),
            commitment: fr_to_b256(&self.commitment),
        };
        Ok(PrimaryCommit {
            previous,
            previous_sync_hashes,
            block: Primary::CommitBlockInfo {
                blockNumber: block.number,
                timestamp: block.timestamp,
                newStateRoot: fr_to_b256(&block.state_root),
                pubdata: block.records_for(None),
                changePubKeySignatures: block.signatures_for(self.chain),
            },
            stored: self.last,
            sync_hashes: self.sync.0.clone(),
        })
    }
}

/// One `commitCompressedBlocks` entry on a secondary and what it makes the contract store.
#[derive(Debug, Clone)]
pub struct SecondaryCommit {
    /// The stored block the call builds on (`last`).
    pub previous: StoredBlock,
    /// The block as the call carries it: only this chain's ops.
    pub block: Secondary::CommitBlockInfo,
    /// What the contract stores for it; its `sync_hash` is what the committee attests.
    pub stored: StoredBlock,
}

/// A secondary contract's view: only the blocks that touch its chain.
#[derive(Debug, Clone)]
pub struct SecondaryBookkeeping {
    chain: ChainId,
    last: StoredBlock,
}

impl SecondaryBookkeeping {
    /// At genesis, as the constructor stores block 0.
    pub fn genesis(chain: ChainId, genesis_root: Fr) -> Self {
        Self {
            chain,
            last: StoredBlock::genesis(fr_to_b256(&genesis_root), EMPTY, B256::ZERO),
        }
    }

    /// Resumes after `last`, the last block this chain's contract stored (the contract
    /// keeps it; nothing else is needed).
    pub fn resume(chain: ChainId, last: StoredBlock) -> Self {
        Self { chain, last }
    }

    /// The last committed block.
    pub fn last(&self) -> StoredBlock {
        self.last
    }

    /// Commits the block if it touches this chain; `Ok(None)` (nothing to send)
    /// otherwise. A block at or below the last committed one is refused and nothing
    /// changes.
    pub fn commit(
        &mut self,
        block: &SettlementBlock<'_>,
    ) -> Result<Option<SecondaryCommit>, BookkeepingError> {
        if block.number <= self.last.block_number {
            return Err(BookkeepingError::OutOfOrder {
                last: self.last.block_number,
                got: block.number,
            });
        }
        let ops = ops_hash(self.chain, block.ops);
        if ops == EMPTY {
            return Ok(None);
        }
        let previous = self.last;
        self.last = StoredBlock {
            block_number: block.number,
            block_sequence: previous.block_sequence + 1,
            priority_operations: block.priority_ops_for(self.chain),
            timestamp: block.timestamp,
            state_root: fr_to_b256(&block.state_root),
            ops_hash: ops,
            sync_hash: sync_hash(previous.sync_hash, block.number, block.state_root, ops),
            commitment: B256::ZERO,
        };
        Ok(Some(SecondaryCommit {
            previous,
            block: Secondary::CommitBlockInfo {
                blockNumber: block.number,
                timestamp: block.timestamp,
                newStateRoot: fr_to_b256(&block.state_root),
                pubdata: block.records_for(Some(self.chain)),
                changePubKeySignatures: block.signatures_for(self.chain),
            },
            stored: self.last,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::SolValue;
    use manyfold_types::{AccountId, Address, Amount, TokenId};

    fn chain(c: u16) -> ChainId {
        ChainId::new(c).unwrap()
    }

    fn withdraw(c: u16) -> OpPubdata {
        OpPubdata::Withdraw {
            chain: chain(c),
            account: AccountId::new(1).unwrap(),
            token: TokenId::new(0).unwrap(),
            amount: Amount(5),
            address: Address::repeat_byte(9),
        }
    }

    #[test]
    fn the_hash_is_abi_encode_of_the_struct() {
        let stored = StoredBlock {
            block_number: 3,
            block_sequence: 2,
            priority_operations: 1,
            timestamp: 99,
            state_root: B256::repeat_byte(1),
            ops_hash: B256::repeat_byte(2),
            sync_hash: B256::repeat_byte(3),
            commitment: B256::repeat_byte(4),
        };
        let via_bindings = keccak256(Primary::StoredBlockInfo::from(stored).abi_encode());
        assert_eq!(stored.hash(), via_bindings);
    }

    #[test]
    fn secondaries_see_only_the_blocks_and_ops_that_touch_them() {
        let ops = [withdraw(1), OpPubdata::Noop, withdraw(0)];
        let block = SettlementBlock {
            number: 1,
            timestamp: 10,
            state_root: Fr::from(7u64),
            ops: &ops,
            change_pubkey_signatures: &[],
        };
        let mut one = SecondaryBookkeeping::genesis(chain(1), Fr::from(1u64));
        let mut two = SecondaryBookkeeping::genesis(chain(2), Fr::from(1u64));
        let commit = one.commit(&block).unwrap().expect("chain 1 is touched");
        assert!(two.commit(&block).unwrap().is_none(), "chain 2 is not");
        assert_eq!(
            commit.block.pubdata,
            Bytes::from(withdraw(1).encode().to_vec())
        );
        assert_eq!(commit.stored.block_sequence, 1);
        assert_eq!(commit.stored.block_number, 1);

        let mut primary = PrimaryBookkeeping::genesis(chain(0), 3, Fr::from(1u64), Fr::from(0u64));
        let p = primary.commit(&block).unwrap();
        assert_eq!(
            p.sync_hashes[1], commit.stored.sync_hash,
            "the primary expects chain 1's own sync hash"
        );
        assert_eq!(p.sync_hashes[2], EMPTY, "an untouched chain keeps its hash");
        assert_eq!(p.block.pubdata.len(), 3 * 64, "the primary takes every op");
        assert_eq!(
            block.ops_for(chain(0)),
            Bytes::from(withdraw(0).encode().to_vec())
        );
    }

    #[test]
    fn out_of_order_blocks_and_unknown_chains_are_refused_and_change_nothing() {
        let ops = [withdraw(1)];
        let at = |number| SettlementBlock {
            number,
            timestamp: 10,
            state_root: Fr::from(7u64),
            ops: &ops,
            change_pubkey_signatures: &[],
        };
        let mut primary = PrimaryBookkeeping::genesis(chain(0), 2, Fr::from(1u64), Fr::from(0u64));
        let before = (
            primary.last(),
            primary.commitment(),
            primary.sync_hashes().to_vec(),
        );
        assert_eq!(
            primary.commit(&at(2)).unwrap_err(),
            BookkeepingError::OutOfOrder { last: 0, got: 2 }
        );
        let foreign = [withdraw(5)];
        let err = primary
            .commit(&SettlementBlock {
                ops: &foreign,
                ..at(1)
            })
            .unwrap_err();
        assert_eq!(
            err,
            BookkeepingError::UnknownChain {
                block: 1,
                chain: 5,
                chains: 2
            }
        );
        assert_eq!(
            (
                primary.last(),
                primary.commitment(),
                primary.sync_hashes().to_vec()
            ),
            before,
            "a refused block changes nothing"
        );
        primary.commit(&at(1)).unwrap();
        assert!(matches!(
            primary.commit(&at(1)),
            Err(BookkeepingError::OutOfOrder { last: 1, got: 1 })
        ));

        let mut secondary = SecondaryBookkeeping::genesis(chain(1), Fr::from(1u64));
        secondary.commit(&at(3)).unwrap().unwrap();
        let last = secondary.last();
        assert!(secondary.commit(&at(3)).is_err());
        assert!(secondary.commit(&at(2)).is_err());
        assert_eq!(secondary.last(), last);
    }

    #[test]
    fn bookkeeping_resumed_from_stored_state_goes_on_like_the_original() {
        let first = [withdraw(1), OpPubdata::Noop];
        let second = [withdraw(0), withdraw(1)];
        let block = |number, ops| SettlementBlock {
            number,
            timestamp: 10 * u64::from(number),
            state_root: Fr::from(u64::from(number) + 7),
            ops,
            change_pubkey_signatures: &[],
        };
        let mut primary = PrimaryBookkeeping::genesis(chain(0), 2, Fr::from(1u64), Fr::from(0u64));
        let mut secondary = SecondaryBookkeeping::genesis(chain(1), Fr::from(1u64));
        primary.commit(&block(1, &first)).unwrap();
        secondary.commit(&block(1, &first)).unwrap();

        let mut resumed = PrimaryBookkeeping::resume(
            chain(0),
            primary.last(),
            primary.commitment(),
            primary.sync_hashes().to_vec(),
        )
        .unwrap();
        let mut resumed_secondary = SecondaryBookkeeping::resume(chain(1), secondary.last());
        let a = primary.commit(&block(2, &second)).unwrap();
        let b = resumed.commit(&block(2, &second)).unwrap();
        assert_eq!((a.stored, a.sync_hashes), (b.stored, b.sync_hashes));
        assert_eq!(
            secondary
                .commit(&block(2, &second))
                .unwrap()
                .unwrap()
                .stored,
            resumed_secondary
                .commit(&block(2, &second))
                .unwrap()
                .unwrap()
                .stored
        );

        // What was kept must match the block the contract stored.
        let mut wrong_hashes = primary.sync_hashes().to_vec();
        wrong_hashes[1] = B256::repeat_byte(1);
        assert!(PrimaryBookkeeping::resume(
            chain(0),
            primary.last(),
            primary.commitment(),
            wrong_hashes
        )
        .is_err());
        assert!(PrimaryBookkeeping::resume(
            chain(0),
            primary.last(),
            Fr::from(42u64),
            primary.sync_hashes().to_vec()
        )
        .is_err());
    }
}
