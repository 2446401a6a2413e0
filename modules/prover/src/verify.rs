//! Verification of a compressed proof against its public values, and the pinning of the
//! verifying key by its digest (DESIGN §5).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use alloy_primitives::{Keccak256, B256};
use manyfold_types::Fr;

use crate::params::{Snark, Vk};

/// Domain tag of [`verifying_key_digest`]: names the digest's version, the proof system and
/// its serialisation.
pub const VK_DIGEST_DOMAIN: &[u8] =
    b"manyfold-vk/v1/nova-snark-0.76.0/bn254-hyperkzg+grumpkin-ipa/spartan/bincode-legacy\0";

/// The digest that pins a verifying key: keccak-256 of [`VK_DIGEST_DOMAIN`] followed by the
/// key's canonical serialisation, which is bincode 2's `legacy` configuration (fixed-width
/// little-endian integers, `u64` lengths) of nova-snark 0.76's serde form of the compressed
/// SNARK's [`VerifierKey`](nova_snark::nova::VerifierKey): Nova's arity and random-oracle
/// constants, the public parameters' digest (which covers the commitment keys, hence the
/// powers of tau), both Spartan verifier keys (R1CS shapes, HyperKZG's and IPA's keys) and
/// the derandomisation keys. The serialisation has no maps and skips nova's lazily
/// computed caches, so the digest is the same across runs and restarts for the same
/// parameters, whether they were just set up or loaded from the cache. The primary's
/// verifier contract holds this value; a proof is verified only against the key of the
/// digest it names ([`verify_pinned`]).
///
/// # Panics
///
/// Never for a key nova-snark produced: serialising into a hash cannot fail.
pub fn verifying_key_digest(vk: &Vk) -> [u8; 32] {
    struct Hashing<'a>(&'a mut Keccak256);
    impl std::io::Write for Hashing<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hasher = Keccak256::new();
    hasher.update(VK_DIGEST_DOMAIN);
    bincode::serde::encode_into_std_write(vk, &mut Hashing(&mut hasher), bincode::config::legacy())
        .expect("a verifier key serialises");
    hasher.finalize().0
}

/// A verifying key with its digest, computed once: what a verifier that pins its key
/// holds (the embedded chain's precompile, the node's own checks).
/// Cloning shares the key.
#[derive(Clone)]
pub struct PinnedVk {
    vk: Arc<Vk>,
    digest: [u8; 32],
}

impl std::fmt::Debug for PinnedVk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedVk")
            .field("digest", &B256::from(self.digest))
            .finish_non_exhaustive()
    }
}

impl PinnedVk {
    /// Pins `vk` under its [`verifying_key_digest`].
    pub fn new(vk: Vk) -> Self {
        let digest = verifying_key_digest(&vk);
        Self {
            vk: Arc::new(vk),
            digest,
        }
    }

    /// The key's digest.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// The key.
    pub fn vk(&self) -> &Vk {
        &self.vk
    }

    /// Accepts `snark` exactly when `expected_digest` is this key's digest and the SNARK
    /// proves `public` under it. Another digest is an invalid proof
    /// ([`VerifyError::UnknownKey`]), checked before anything else.
    pub fn verify(
        &self,
        expected_digest: &[u8; 32],
        snark: &[u8],
        public: &PublicValues,
    ) -> Result<(), VerifyError> {
        if *expected_digest != self.digest {
            return Err(VerifyError::UnknownKey {
                expected: B256::from(*expected_digest),
                actual: B256::from(self.digest),
            });
        }
        verify(&self.vk, snark, public)
    }
}

/// [`verify`] against a pinned key: refuses with [`VerifyError::UnknownKey`] (an invalid
/// proof, never a panic) unless `vk`'s [`verifying_key_digest`] is `expected_digest`.
/// Computes the digest on each call; [`PinnedVk`] computes it once.
pub fn verify_pinned(
    vk: &Vk,
    expected_digest: &[u8; 32],
    snark: &[u8],
    public: &PublicValues,
) -> Result<(), VerifyError> {
    let actual = verifying_key_digest(vk);
    if *expected_digest != actual {
        return Err(VerifyError::UnknownKey {
            expected: B256::from(*expected_digest),
            actual: B256::from(actual),
        });
    }
    verify(vk, snark, public)
}

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
    /// The proof names a verifying key other than the verifier's pinned one.
    #[error("the proof names verifying key {expected}, not the pinned {actual}")]
    UnknownKey {
        /// The digest the caller expects.
        expected: B256,
        /// The digest of the key at hand.
        actual: B256,
    },
}

/// Accepts `snark` exactly when it proves `public` under `vk`. Does not check which key
/// the caller meant: a verifier that pins its key uses [`verify_pinned`] or
/// [`PinnedVk::verify`]. Any input is answered with an error, never a panic: a panic inside
/// nova-snark's decoding or verification is caught and reported as an invalid proof.
pub fn verify(vk: &Vk, snark: &[u8], public: &PublicValues) -> Result<(), VerifyError> {
    catch_unwind(AssertUnwindSafe(|| verify_unguarded(vk, snark, public))).unwrap_or_else(|_| {
        Err(VerifyError::Invalid(
            "the verifier panicked on this input".into(),
        ))
    })
}

fn verify_unguarded(vk: &Vk, snark: &[u8], public: &PublicValues) -> Result<(), VerifyError> {
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
