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

    async fn request(&self, id: TxId) -> Result<Option<manyfold_sender::RequestView>> {
        self.inner.lock().await.request(id).map_err(|e| self.err(e))
    }

    /// Where the transaction of request `id` landed, once one of its attempts is in a
    /// block and succeeded (a dropped request's filler landing is not its action's).
    pub async fn landed(&self, id: TxId) -> Result<Option<Inclusion>> {
        let view = self.request(id).await?;
        Ok(view.and_then(|v| match v.tx.state {
            TxState::Included(inclusion) if !v.tx.dropped => Some(inclusion),
            _ => None,
        }))
    }

    /// Whether an operator dropped request `id` (`manyfold sender drop`) and it was the
    /// record of `action` on `chain` at `block`: its nonce went to a transfer to the
    /// sender itself, and the action must be asked for again. The request's original
    /// label must name that action, chain and block (a commit's names the last block of
    /// its call, which must be recorded with this request too), so a record is never
    /// matched with a dropped request of another sender that reused its nonce (after a
    /// change of operator key on the same database).
    async fn dropped(
        &self,
        records: &Records,
        id: TxId,
        chain: ChainId,
        action: Action,
        block: u32,
    ) -> Result<bool> {
        let Some(view) = self.request(id).await? else {
            return Ok(false);
        };
        if !view.tx.dropped {
            return Ok(false);
        }
        let mut label = view.tx.label.as_str();
        while let Some(inner) = label.strip_prefix(manyfold_sender::DROPPED_LABEL_PREFIX) {
            label = inner;
        }
        Ok(match action.block_of(chain, label) {
            Some(named) if named == block => true,
            Some(named) if action == Action::Commit && named > block => {
                records.action(chain, action, named)? == Some(id)
            }
            _ => false,
        })
    }

    /// The blocks of the newest `action` records on `chain` whose requests (through this
    /// sender) an operator dropped, newest first. A drop takes a request and every one
    /// after it, and each kind of action is asked for in block order, so the dropped ones
    /// are the newest of their kind: the search stops at the first that was not dropped.
    pub async fn dropped_newest(
        &self,
        records: &Records,
        chain: ChainId,
        action: Action,
    ) -> Result<Vec<u32>> {
        let mut blocks = Vec::new();
        let mut below = u32::MAX;
        while let Some((block, id)) = records.last_action_below(chain, action, below)? {
            if !self.dropped(records, id, chain, action, block).await? {
                break;
            }
            blocks.push(block);
            below = block;
        }
        Ok(blocks)
    }

    /// Forgets the `action` records on `chain` whose requests were dropped, so that the
    /// planners, which go on from the newest record of each kind, ask for them again.
    /// Returns the blocks forgotten, newest first.
    pub async fn forget_dropped(
        &self,
        records: &Records,
        chain: ChainId,
        action: Action,
    ) -> Result<Vec<u32>> {
        let blocks = self.dropped_newest(records, chain, action).await?;
        self.forget(records, chain, action, &blocks, |_, _| {})?;
        Ok(blocks)
    }

    /// Forgets the `action` records on `chain` of `blocks` (found by
    /// [`Self::dropped_newest`]). `also` adds to the same durable write what else goes with
    /// those blocks (a commit's stored blocks and cursor), so a crash never leaves one
    /// without the other.
    pub fn forget(
        &self,
        records: &Records,
        chain: ChainId,
        action: Action,
        blocks: &[u32],
        also: impl FnOnce(&mut WriteBatch, &[u32]),
    ) -> Result<()> {
        if blocks.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        for block in blocks {
            records.delete_action(&mut batch, chain, action, *block);
        }
        also(&mut batch, blocks);
        records.storage().commit(batch)?;
        tracing::warn!(
            chain = %self.chain, first = blocks.last(), last = blocks.first(),
            "an operator dropped these {} requests: asking for them again", action.what()
        );
        Ok(())
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
