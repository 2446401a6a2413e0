//! Settlement of sealed blocks on every chain (DESIGN §1, §2, §7).
//!
//! - [`PrimarySettler`]: commits every sealed block to the primary, submits each proof the
//!   prover stored for its range, and executes up to the end of each proven range the
//!   primary confirmed.
//! - [`StageStore`] keeps, for every (block, chain), the stages the block has reached there
//!   — committed, proven (the primary), synced, confirmed (a secondary), executed — each
//!   with the transaction that made it and when, read from the contracts' own counters at
//!   the chain's final head.
//! - [`Records`]: what the contracts stored per block as the bookkeeping computed it, and
//!   every action asked of a durable sender, written in the same commit as the request,
//!   so a restarted actor never asks twice ([`manyfold_sender::DurableSender::enqueue_with`]).
//! - [`ContractReader`]: the contracts' counters, the truth each actor reconciles with.
//! - [`StepActor`] runs any [`Step`] on a timer; [`SenderDriver`] ticks a [`SharedSender`].
//!   A step that fails holds its chain's pipeline ([`HoldStore`], with a [`HoldReason`]):
//!   lifted by the next step that succeeds when the fault clears by itself, kept (and the
//!   actor stopped) where going on would be unsafe.
//! - [`ExpiryWatch`]: the time left before a chain's oldest open priority request expires
//!   (and anyone may put the chain into exodus), a metric, a warning, then an error.
//!
//! The sync actors of the secondaries (`manyfold-sync`) build on the same pieces.

mod actor;
mod contract;
mod error;
mod expiry;
mod hold;
mod observe;
mod primary;
mod records;
mod sender;
mod source;
mod stages;

pub use actor::{GetStopped, Pipeline, SenderDriver, Step, StepActor};
pub use contract::{ContractReader, PrimaryCounters, SecondaryCounters};
pub use error::{Result, SettlerError};
pub use expiry::{Expiry, ExpiryWatch};
pub use hold::{Hold, HoldReason, HoldStore};
pub use observe::{Observation, Observer, StageChange, StageEvents};
pub use primary::{PrimaryConfig, PrimarySettler};
pub use records::{Action, CursorKind, PrimarySnapshot, Records, StoredBlockRow};
pub use sender::SharedSender;
pub use source::{BlockSource, SealedBlock};
pub use stages::{ChainRole, Stage, StageError, StageRecord, StageStore, Stages};
