//! Nova folding of Manyfold blocks (DESIGN §5).
//!
//! - [`params`]: public parameters for the step circuit, set up once per circuit shape and
//!   cached on disk under the shape's digest. HyperKZG's commitment key comes from a
//!   powers-of-tau file: a production node points at ceremony files; a devnet writes an
//!   insecure local one and says so.
//! - [`prove`]: folds one step per op and compresses a range into one SNARK.
//! - [`verify`]: the check the primary chain's verifier runs on a proof and its public values.

pub mod params;
pub mod prove;
pub mod verify;

pub use params::{Params, ParamsError, PtauSource};
pub use prove::{BlockProof, Folding, ProveError};
pub use verify::{verify, PublicValues, VerifyError};
