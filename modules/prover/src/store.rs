//! Durable proofs and the prover's progress.

use std::sync::Arc;

use manyfold_storage::{Order, Storage, StorageExt, Table, WriteBatch};
use manyfold_types::field::{fr_from_be_bytes, fr_to_be_bytes};
use serde::{Deserialize, Serialize};

use crate::verify::PublicValues;

/// Proofs keyed by their last block. The ranges `from_block..=to_block` of the stored proofs
/// are disjoint (each starts after the last proven block), so the only proof that can cover
/// a block is the first one ending at or after it.
struct Proofs;
impl Table for Proofs {
    const NAME: &'static str = "prover.proofs";
    type Key = u32;
    type Value = Vec<u8>;
}

struct Meta;
impl Table for Meta {
    const NAME: &'static str = "prover.meta";
    type Key = u8;
    type Value = u32;
}

const META_LAST_PROVEN: u8 = 0;

/// A compressed proof of blocks `from_block..=to_block`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProof {
    /// First block proven.
    pub from_block: u32,
    /// Last block proven.
    pub to_block: u32,
    /// What it proves.
    pub public: PublicValues,
    /// The compressed SNARK.
    pub snark: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Encoded {
    from_block: u32,
    to_block: u32,
    old_root: [u8; 32],
    old_commitment: [u8; 32],
    new_root: [u8; 32],
    new_commitment: [u8; 32],
    steps: u64,
    snark: Vec<u8>,
}

/// Read and write access to proofs.
#[derive(Debug, Clone)]
pub struct ProofStore {
    storage: Arc<dyn Storage>,
}

impl ProofStore {
    /// Proofs in `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    /// The last block covered by a stored proof (0 before any).
    pub fn last_proven(&self) -> manyfold_storage::Result<u32> {
        Ok(self.storage.get::<Meta>(&META_LAST_PROVEN)?.unwrap_or(0))
    }

    /// The proof covering `block`, if one is stored.
    pub fn proof_covering(&self, block: u32) -> manyfold_storage::Result<Option<StoredProof>> {
        let next = self
            .storage
            .range::<Proofs>(block.., Order::Ascending, Some(1))?;
        Ok(next
            .into_iter()
            .find_map(|(_, bytes)| decode(&bytes))
            .filter(|p| p.from_block <= block && block <= p.to_block))
    }

    /// Stores `proof` and advances the progress marker, in one commit. `proof` must start
    /// after the last proven block, as [`crate::BlockProver`] makes them: the lookup of
    /// [`ProofStore::proof_covering`] relies on stored ranges being disjoint.
    pub fn save(&self, proof: &StoredProof) -> manyfold_storage::Result<()> {
        let encoded = Encoded {
            from_block: proof.from_block,
            to_block: proof.to_block,
            old_root: fr_to_be_bytes(&proof.public.old_root),
            old_commitment: fr_to_be_bytes(&proof.public.old_commitment),
            new_root: fr_to_be_bytes(&proof.public.new_root),
            new_commitment: fr_to_be_bytes(&proof.public.new_commitment),
            steps: proof.public.steps,
            snark: proof.snark.clone(),
        };
        let mut batch = WriteBatch::new();
        batch.put::<Proofs>(
            &proof.to_block,
            &serde_json::to_vec(&encoded).expect("proofs serialise"),
        );
        batch.put::<Meta>(&META_LAST_PROVEN, &proof.to_block);
        self.storage.commit(batch)
    }
}

fn decode(bytes: &[u8]) -> Option<StoredProof> {
    let e: Encoded = serde_json::from_slice(bytes).ok()?;
    Some(StoredProof {
        from_block: e.from_block,
        to_block: e.to_block,
        public: PublicValues {
            old_root: fr_from_be_bytes(&e.old_root).ok()?,
            old_commitment: fr_from_be_bytes(&e.old_commitment).ok()?,
            new_root: fr_from_be_bytes(&e.new_root).ok()?,
            new_commitment: fr_from_be_bytes(&e.new_commitment).ok()?,
            steps: e.steps,
        },
        snark: e.snark,
    })
}

#[cfg(test)]
mod tests {
    use manyfold_storage::MemoryStorage;
    use manyfold_types::field::Fr;

    use super::*;

    fn proof(from_block: u32, to_block: u32) -> StoredProof {
        StoredProof {
            from_block,
            to_block,
            public: PublicValues {
                old_root: Fr::from(u64::from(from_block)),
                old_commitment: Fr::from(1),
                new_root: Fr::from(u64::from(to_block)),
                new_commitment: Fr::from(2),
                steps: u64::from(to_block - from_block + 1),
            },
            snark: vec![to_block as u8; 3],
        }
    }

    #[test]
    fn the_proof_covering_a_block_is_found_by_its_range() {
        let store = ProofStore::new(Arc::new(MemoryStorage::new()));
        assert_eq!(store.proof_covering(1).unwrap(), None, "no proof yet");
        let proofs = [proof(1, 3), proof(4, 4), proof(5, 9), proof(10, 300)];
        for p in &proofs {
            store.save(p).unwrap();
        }
        assert_eq!(store.last_proven().unwrap(), 300);
        for block in 0..=302 {
            let expected = proofs
                .iter()
                .find(|p| p.from_block <= block && block <= p.to_block);
            assert_eq!(
                store.proof_covering(block).unwrap().as_ref(),
                expected,
                "block {block}"
            );
        }
        assert_eq!(store.proof_covering(u32::MAX).unwrap(), None);
    }
}
