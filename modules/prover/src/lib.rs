//! Nova folding of Manyfold blocks (DESIGN §5).
//!
//! - [`params`]: public parameters for the step circuit, set up once per circuit shape and
//!   powers-of-tau source, and cached on disk under a key of both digests
//!   ([`params::cache_key`]); a corrupt cache file is never used. HyperKZG's commitment key
//!   comes from a powers-of-tau file: a production node points at ceremony files; a devnet
//!   writes an insecure local one and says so.
//! - [`prove`]: folds one step per op and compresses a range into one SNARK.
//! - [`verify`]: the check the primary chain's verifier runs on a proof and its public values;
//!   [`verifying_key_digest`] pins the verifying key, and [`verify_pinned`] / [`PinnedVk`]
//!   refuse a proof presented for another key's digest.
//! - [`BlockProver`] proves sealed blocks in order and stores each proof with its progress,
//!   so that a restart resumes at the first unproven block; [`ProverActor`] runs it on its
//!   own thread, woken by the block builder's announcements, and supervises it: a panic or
//!   an error while proving is caught, reported with its block, and the block retried from
//!   the durable progress after a backoff ([`retry_delay`]).

mod block_prover;
pub mod params;
pub mod prove;
mod service;
mod store;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
pub mod verify;

pub use block_prover::{BlockHook, BlockProver, ProverError};
pub use params::{Params, ParamsError, PtauSource};
pub use prove::{BlockProof, Folding, ProveError};
pub use service::{
    retry_delay, ProverActor, ProverConfig, ProverHandle, ProverStatus, FIRST_RETRY_DELAY,
    MAX_RETRY_DELAY,
};
pub use store::{ProofStore, StoredProof};
pub use verify::{
    verify, verify_pinned, verifying_key_digest, PinnedVk, PublicValues, VerifyError,
    VK_DIGEST_DOMAIN,
};
