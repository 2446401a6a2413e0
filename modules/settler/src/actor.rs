//! The actor shells: each runs plain logic on a timer, one step at a time.

use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, WrapFuture};

use manyfold_types::ChainId;

use crate::error::SettlerError;
use crate::hold::{Hold, HoldReason, HoldStore};
use crate::sender::SharedSender;

/// Consecutive failed steps, all of a kind that clears by itself, before the pipeline is
/// shown held (one failed read is a blip, not an outage).
const HOLD_AFTER_FAILURES: u32 = 3;

/// The chain pipeline a step drives: where its failures hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// The chain's rollup id.
    pub chain: ChainId,
    /// Its name in the config (metrics and logs).
    pub name: String,
    /// The first block not executed there yet, as the node knows.
    pub first_unexecuted: u32,
}

/// Plain settlement logic an actor drives: one step does what is due and returns how many
/// transactions it asked for.
#[allow(async_fn_in_trait)]
pub trait Step: 'static {
    /// What logs and metrics call it.
    fn name(&self) -> String;
    /// Does what is due. A fatal error ([`SettlerError::is_fatal`]) stops the actor's
    /// steps; any other is retried on the next tick.
    async fn step(&mut self) -> Result<u32, SettlerError>;
    /// The chain pipeline it drives, if any: a failure holds it there.
    fn pipeline(&self) -> Option<Pipeline> {
        None
    }
}

/// Runs a [`Step`] every `period`, never two at once.
pub struct StepActor<S: Step> {
    logic: Option<Box<S>>,
    name: String,
    period: Duration,
    stopped: Option<String>,
    failures: u32,
    holds: Option<HoldStore>,
    /// Whether the store holds a hold of this pipeline: `None` until read once, so that a
    /// step that succeeds reads the store only while there may be something to lift.
    held: Option<bool>,
}

impl<S: Step> StepActor<S> {
    /// The actor of `logic`, stepping every `period`.
    pub fn new(logic: S, period: Duration) -> Self {
        Self {
            name: logic.name(),
            logic: Some(Box::new(logic)),
            period,
            stopped: None,
            failures: 0,
            holds: None,
            held: None,
        }
    }

    /// Records its pipeline's holds in `holds` (shown over RPC and in metrics).
    pub fn with_holds(mut self, holds: HoldStore) -> Self {
        self.holds = Some(holds);
        self
    }

    /// Holds the pipeline for `error` (at most once per reason: a hold already there for
    /// the same reason keeps its start).
    fn hold(&mut self, logic: &S, reason: HoldReason, error: &SettlerError) {
        let (Some(holds), Some(pipeline)) = (&self.holds, logic.pipeline()) else {
            return;
        };
        let existing = holds.get(pipeline.chain).ok().flatten();
        if existing.as_ref().is_some_and(|h| h.reason == reason) {
            self.held = Some(true);
            return;
        }
        let hold = Hold {
            reason,
            from_block: pipeline.first_unexecuted,
            detail: bounded(error.to_string()),
            since: now(),
        };
        if let Err(e) = holds.hold(pipeline.chain, &hold) {
            tracing::error!(actor = %self.name, error = %e, "could not record the hold");
        }
        self.held = Some(true);
        for r in HoldReason::ALL {
            metrics::gauge!("manyfold_settlement_held", "chain" => pipeline.name.clone(), "reason" => r.label())
                .set(if r == reason { 1.0 } else { 0.0 });
        }
        tracing::error!(
            chain = %pipeline.name, reason = reason.label(), from_block = hold.from_block,
            detail = %hold.detail, "settlement held on this chain"
        );
    }

    /// Lifts the pipeline's hold once a step succeeds: a fault that clears by itself has
    /// cleared, or an operator mended a lasting one and restarted the node (a lasting fault
    /// stops the actor, so no step of it succeeds while the fault is there).
    fn lift(&mut self, logic: &S) {
        if self.held == Some(false) {
            return;
        }
        let (Some(holds), Some(pipeline)) = (&self.holds, logic.pipeline()) else {
            return;
        };
        match holds.get(pipeline.chain) {
            Ok(Some(hold)) => {
                if let Err(e) = holds.lift(pipeline.chain) {
                    tracing::error!(actor = %self.name, error = %e, "could not lift the hold");
                    return;
                }
                metrics::gauge!("manyfold_settlement_held", "chain" => pipeline.name.clone(), "reason" => hold.reason.label())
                    .set(0.0);
                tracing::info!(
                    chain = %pipeline.name, reason = hold.reason.label(),
                    held_for_s = now().saturating_sub(hold.since), "settlement resumed on this chain"
                );
                self.held = Some(false);
            }
            Ok(None) => self.held = Some(false),
            Err(e) => tracing::error!(actor = %self.name, error = %e, "could not read the hold"),
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.stopped.is_some() {
            return;
        }
        let Some(mut logic) = self.logic.take() else {
            return; // a step is running
        };
        let fut = async move {
            let result = logic.step().await;
            (logic, result)
        };
        ctx.spawn(fut.into_actor(self).map(|(logic, result), act, _| {
            match &result {
                Ok(_) => {
                    if act.failures > 0 {
                        tracing::info!(actor = %act.name, after = act.failures, "steps succeed again");
                    }
                    act.failures = 0;
                    act.lift(&logic);
                }
                Err(e) if e.is_fatal() => {
                    tracing::error!(actor = %act.name, error = %e, "stopped: an operator must look");
                    metrics::gauge!("manyfold_settlement_actor_stopped", "actor" => act.name.clone()).set(1.0);
                    act.hold(&logic, HoldReason::of(e), e);
                    act.stopped = Some(e.to_string());
                }
                Err(e) => {
                    act.failures += 1;
                    if act.failures >= HOLD_AFTER_FAILURES {
                        act.hold(&logic, HoldReason::of(e), e);
                    }
                    // The first failure and then every 20th: a chain that is down for a
                    // while is one line per few seconds, not one per tick.
                    if act.failures == 1 || act.failures.is_multiple_of(20) {
                        tracing::warn!(actor = %act.name, failures = act.failures, error = %e, "step failed; retrying");
                    }
                    metrics::counter!("manyfold_settlement_step_failures_total", "actor" => act.name.clone()).increment(1);
                }
            }
            act.logic = Some(logic);
        }));
    }
}

impl<S: Step> Actor for StepActor<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(actor = %self.name, "started");
        ctx.run_interval(self.period, |act, ctx| act.tick(ctx));
    }
}

/// Why an actor stopped, if it did.
#[derive(Message)]
#[rtype(result = "Option<String>")]
pub struct GetStopped;

impl<S: Step> Handler<GetStopped> for StepActor<S> {
    type Result = Option<String>;

    fn handle(&mut self, _: GetStopped, _: &mut Self::Context) -> Self::Result {
        self.stopped.clone()
    }
}

/// Ticks a chain's durable sender: signs, broadcasts, replaces and follows its requests.
pub struct SenderDriver {
    sender: SharedSender,
    deferred: u32,
}

impl SenderDriver {
    /// The driver of `sender`.
    pub fn new(sender: SharedSender) -> Self {
        Self {
            sender,
            deferred: 0,
        }
    }
}

impl Step for SenderDriver {
    fn name(&self) -> String {
        format!("sender ({})", self.sender.chain)
    }

    async fn step(&mut self) -> Result<u32, SettlerError> {
        let report = self.sender.tick().await?;
        match report.deferred {
            Some(e) => {
                self.deferred += 1;
                // A request waiting on the one before it (its estimate reverts until that
                // one is mined) defers a tick or two; one that keeps deferring is stuck
                // and must be seen.
                if self.deferred == 10 || self.deferred.is_multiple_of(100) {
                    tracing::warn!(chain = %self.sender.chain, ticks = self.deferred, error = %e, "the next settlement transaction keeps failing to be sent");
                } else {
                    tracing::debug!(chain = %self.sender.chain, error = %e, "sending deferred");
                }
                metrics::counter!("manyfold_settlement_send_deferred_total", "chain" => self.sender.chain.clone()).increment(1);
            }
            None => self.deferred = 0,
        }
        Ok(report.events.len() as u32)
    }
}

/// At most [`MAX_DETAIL_BYTES`] of `text`: a hold's detail can quote what an endpoint
/// answered (revert data), and it is stored and served with every status.
fn bounded(mut text: String) -> String {
    if text.len() > MAX_DETAIL_BYTES {
        let mut end = MAX_DETAIL_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The most bytes of an error a hold keeps.
const MAX_DETAIL_BYTES: usize = 512;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hold_keeps_a_bounded_detail() {
        assert_eq!(super::bounded("short".into()), "short");
        let long = "é".repeat(400); // 800 bytes
        let kept = super::bounded(long);
        assert!(kept.len() <= super::MAX_DETAIL_BYTES + '…'.len_utf8());
        assert!(kept.ends_with('…'));
    }
}
