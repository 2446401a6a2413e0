//! Verification of a compressed proof against its public values.

use manyfold_types::Fr;

use crate::params::{Snark, Vk};

/// What a proof claims: `steps` IVC steps (each of up to
/// `manyfold_circuits::OPS_PER_STEP` ops) lead from (old root, old commitment) to (new root,
/// new commitment). The primary contract checks exactly these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicValues {
    /// State root before the range.
    pub old_root: Fr,
    /// Pubdata commitment before the range.
    pub old_commitment: Fr,
    /// State root after.
    pub new_root: Fr,
    /// Pubdata commitment after.
    pub new_commitment: Fr,
    /// IVC steps folded.
    pub steps: u64,
}

/// Why a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bytes are not a proof.
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// The SNARK does not verify for these starting values and step count.
    #[error("invalid proof: {0}")]
    Invalid(String),
    /// The SNARK verifies but reaches other values than claimed.
    #[error("the proof reaches other values than claimed")]
    WrongOutputs,
}

/// Accepts `snark` exactly when it proves `public` under `vk`.
pub fn verify(vk: &Vk, snark: &[u8], public: &PublicValues) -> Result<(), VerifyError> {
    let (proof, read): (Snark, usize) =
        bincode::serde::decode_from_slice(snark, bincode::config::legacy())
            .map_err(|e| VerifyError::Malformed(e.to_string()))?;
    if read != snark.len() {
        return Err(VerifyError::Malformed("trailing bytes".into()));
    }
    let steps =
        usize::try_from(public.steps).map_err(|_| VerifyError::Malformed("step count".into()))?;
    let outputs = proof
        .verify(vk, steps, &[public.old_root, public.old_commitment])
        .map_err(|e| VerifyError::Invalid(e.to_string()))?;
    if outputs != [public.new_root, public.new_commitment] {
        return Err(VerifyError::WrongOutputs);
    }
    Ok(())
}
