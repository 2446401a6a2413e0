//! Chain watchers (DESIGN §7): each settlement contract's priority requests (deposits of
//! the native coin and ERC-20 tokens, full-exit requests) turned into the node's
//! [`manyfold_types::PriorityOp`]s, read only up to the chain's finality rule.
//!
//! - [`LogPoller`] reads a filter's logs up to a finality rule with a durable cursor, and
//!   detects reorgs of blocks it consumed. It works over any
//!   [`manyfold_chain::ChainReader`], so every chain plugin's events go through it.
//! - [`PriorityWatcher`] owns a poller of one contract's `PriorityRequestAdded` events,
//!   decodes them ([`decode_priority_request`]) and checks their serial ids: the next one
//!   is handed out, one already handed out is a duplicate (skipped, counted), one ahead is
//!   a gap, and a re-read that differs from what was handed out under its serial id is a
//!   conflict. A gap, a conflict or an undecodable log stops the watcher for good
//!   ([`Stop`], persisted): an operator must look.
//!
//! The watcher is plain logic; an actor calls [`PriorityWatcher::poll`] on a timer, submits
//! the ops to the mempool, then [`PriorityWatcher::commit`]s the batch.

mod poller;
mod watcher;

pub use poller::{
    Cursor, LogBatch, LogCursors, LogPoller, PollEvent, PollerError, PollerOptions, Reorg,
};
pub use watcher::{
    decode_priority_request, DecodeError, HandedOut, HandedOutOp, PriorityBatch, PriorityWatcher,
    Stop, WatcherConfig, WatcherError, WatcherEvent, WatcherState, WatcherStates, PRIORITY_CURSOR,
};
