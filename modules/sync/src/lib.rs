//! Synchronisation of the secondaries (DESIGN §1, §6).
//!
//! - [`SyncSettler`]: one per secondary. Commits the sealed blocks that touch its chain
//!   with only its ops; once its chain shows a block committed at its final head (and the
//!   primary has committed it too), has the transport deliver the chain's sync hash to the
//!   primary; once the primary has executed a block, has the transport deliver the
//!   confirmation; executes its blocks up to the confirmation. A slow or failed secondary
//!   holds only its own actor: the primary settler and the other sync actors go on.
//! - [`SyncTransport`]: how messages cross chains; [`Committee`] is the first (M-of-N
//!   ECDSA attestations by the validator keys the node holds), which signs only what it
//!   read from the chains at their final heads.
//!
//! Run a [`SyncSettler`] in a [`manyfold_settler::StepActor`].

mod committee;
mod sync;

pub use committee::{Committee, CommitteeError, Delivery, Route, SyncTransport};
pub use sync::{SyncChains, SyncConfig, SyncSettler, MAX_BLOCKS_PER_CALL};
