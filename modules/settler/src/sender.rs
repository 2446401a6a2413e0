//! The durable senders the settlement actors share: one per (chain, operator key).

use std::sync::Arc;

use manyfold_sender::{DurableSender, Inclusion, NewTx, TxId, TxState};
use manyfold_storage::WriteBatch;
use manyfold_types::ChainId;

use crate::error::{Result, SettlerError};
use crate::records::{Action, Records};

/// One chain's durable sender, shared by the actors that send there (the primary's is
/// shared by the primary settler and every sync actor delivering a sync hash). A driver
/// actor ticks it; the actors enqueue.
#[derive(Clone)]
pub struct SharedSender {
    /// The chain's name.
    pub chain: String,
    inner: Arc<tokio::sync::Mutex<DurableSender>>,
}

impl std::fmt::Debug for SharedSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSender")
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

impl SharedSender {
    /// Shares `sender`.
    pub fn new(sender: DurableSender) -> Self {
        Self {
            chain: sender.config().chain.clone(),
            inner: Arc::new(tokio::sync::Mutex::new(sender)),
        }
    }

    fn err(&self, source: manyfold_sender::SenderError) -> SettlerError {
        SettlerError::Sender {
            chain: self.chain.clone(),
            source: Box::new(source),
        }
    }

    /// Stores `tx` with `rows` in one durable commit (see
    /// [`DurableSender::enqueue_with`]).
    pub async fn enqueue(&self, tx: NewTx, rows: impl FnOnce(TxId) -> WriteBatch) -> Result<TxId> {
        self.inner
            .lock()
            .await
            .enqueue_with(tx, rows)
            .map_err(|e| self.err(e))
    }

    /// Asks for `tx` as `action` of `block` on `chain`: the request and the action's
    /// record in one durable commit, so the action is never asked for twice.
    pub async fn ask(
        &self,
        records: &Records,
        tx: NewTx,
        chain: ChainId,
        action: Action,
        block: u32,
    ) -> Result<TxId> {
        self.enqueue(tx, |id| {
            let mut rows = WriteBatch::new();
            records.put_action(&mut rows, chain, action, block, id);
            rows
        })
        .await
    }

    /// Where the transaction of request `id` landed, once one of its attempts is in a
    /// block and succeeded.
    pub async fn landed(&self, id: TxId) -> Result<Option<Inclusion>> {
        let view = self
            .inner
            .lock()
            .await
            .request(id)
            .map_err(|e| self.err(e))?;
        Ok(view.and_then(|v| match v.tx.state {
            TxState::Included(inclusion) => Some(inclusion),
            _ => None,
        }))
    }

    /// Runs one tick of the sender: what its driver actor calls on a timer.
    pub async fn tick(&self) -> Result<manyfold_sender::TickReport> {
        self.inner
            .lock()
            .await
            .tick()
            .await
            .map_err(|e| self.err(e))
    }

    /// Fails with the sender's stop when it is stopped: a step calls it first, so that a
    /// pipeline whose transaction was refused or reverted holds (and says why) even when
    /// it has nothing new to ask for.
    pub async fn ensure_running(&self) -> Result<()> {
        match self.inner.lock().await.stopped() {
            Some(reason) => Err(self.err(manyfold_sender::SenderError::Stopped(reason.clone()))),
            None => Ok(()),
        }
    }

    /// Its status.
    pub async fn status(&self) -> manyfold_sender::SenderStatus {
        self.inner.lock().await.status()
    }
}
