/// Errors of the block builder. All are fatal to the current attempt: the actor restarts
/// from durable state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuilderError {
    /// Durable storage failed.
    #[error(transparent)]
    Storage(#[from] manyfold_storage::StorageError),
    /// The state could not be loaded.
    #[error(transparent)]
    State(#[from] manyfold_state::StateError),
    /// Stored blocks are unreadable.
    #[error("block store is corrupt: {0}")]
    Corrupt(String),
}
