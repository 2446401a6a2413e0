//! Durable proofs and the prover's progress.

use std::sync::Arc;

use manyfold_storage::{Storage, StorageExt, Table, WriteBatch};
use manyfold_types::field::{fr_from_be_bytes, fr_to_be_bytes};
use serde::{Deserialize, Serialize};

use crate::verify::PublicValues;

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
        // Ranges are few and keyed by their end; a scan is fine at this scale.
        Ok(self
            .storage
            .scan::<Proofs>()?
            .into_iter()
            .filter_map(|(_, bytes)| decode(&bytes))
            .find(|p| p.from_block <= block && block <= p.to_block))
    }

    /// Stores `proof` and advances the progress marker, in one commit.
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
