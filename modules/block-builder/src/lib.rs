//! The block builder: takes candidates from the mempool, applies them to the state, seals
//! a block when it reaches its op limit or its time limit, persists block, receipts, state
//! changes and the consumed mempool rows in one atomic commit, then announces the block.
//!
//! [`BlockBuilder`] is the logic; [`BlockBuilderActor`] the actix shell that paces it.

mod actor;
mod builder;
mod error;
mod store;

pub use actor::{
    proving_backlog_full, BlockBuilderActor, BlockBuilderConfig, BlockBuilderHandle, Clock,
    NewBlock, ProvenHeight, SystemClock,
};
pub use builder::{BlockBuilder, SealedBlock};
pub use error::BuilderError;
pub use store::BlockStore;
