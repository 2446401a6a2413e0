//! Nova folding of Manyfold blocks (DESIGN §5).
//!
//! - [`params`]: public parameters for the step circuit, set up once per circuit shape and
//!   cached on disk under the shape's digest. HyperKZG's commitment key comes from a
//!   powers-of-tau file: a production node points at ceremony files; a devnet writes an
//!   insecure local one and says so.
//! - [`prove`]: folds one step per op and compresses a range into one SNARK.
//! - [`verify`]: the check the primary chain's verifier runs on a proof and its public values.
//! - [`BlockProver`] proves sealed blocks in order and stores each proof with its progress,
//!   so that a restart resumes at the first unproven block; [`ProverActor`] runs it on its
//!   own thread, woken by the block builder's announcements.

mod block_prover;
pub mod params;
pub mod prove;
mod service;
mod store;
pub mod verify;

pub use block_prover::{BlockProver, ProverError};
pub use params::{Params, ParamsError, PtauSource};
pub use prove::{BlockProof, Folding, ProveError};
pub use service::{ProverActor, ProverConfig, ProverHandle, ProverStatus};
pub use store::{ProofStore, StoredProof};
pub use verify::{verify, PublicValues, VerifyError};
