//! Settlement of sealed blocks on every chain (DESIGN §2, §7).
//!
//! [`StageStore`] keeps, for every (block, chain), the stages the block has reached there
//! — committed, proven (the primary), synced, confirmed (a secondary), executed — each with
//! the transaction that made it and when. It is what the node's RPC reports, what the
//! settler and the sync actors resume from after a restart, and it refuses a stage out of
//! its order or recorded twice differently, so no record ever claims more than happened.
//!
//! The primary settler actor that commits, proves and executes on the primary, and the
//! sync actors of the secondaries, build on it (issue 11).

mod stages;

pub use stages::{ChainRole, Stage, StageError, StageRecord, StageStore, Stages};
