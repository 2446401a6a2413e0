//! The actor shells: each runs plain logic on a timer, one step at a time.

use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, WrapFuture};

use crate::error::SettlerError;
use crate::sender::SharedSender;

/// Plain settlement logic an actor drives: one step does what is due and returns how many
/// transactions it asked for.
#[allow(async_fn_in_trait)]
pub trait Step: 'static {
    /// What logs and metrics call it.
    fn name(&self) -> String;
    /// Does what is due. A fatal error ([`SettlerError::is_fatal`]) stops the actor's
    /// steps; any other is retried on the next tick.
    async fn step(&mut self) -> Result<u32, SettlerError>;
}

/// Runs a [`Step`] every `period`, never two at once.
pub struct StepActor<S: Step> {
    logic: Option<Box<S>>,
    name: String,
    period: Duration,
    stopped: Option<String>,
    failures: u32,
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
            act.logic = Some(logic);
            match result {
                Ok(_) => {
                    if act.failures > 0 {
                        tracing::info!(actor = %act.name, after = act.failures, "steps succeed again");
                    }
                    act.failures = 0;
                }
                Err(e) if e.is_fatal() => {
                    tracing::error!(actor = %act.name, error = %e, "stopped: an operator must look");
                    metrics::gauge!("manyfold_settlement_actor_stopped", "actor" => act.name.clone()).set(1.0);
                    act.stopped = Some(e.to_string());
                }
                Err(e) => {
                    act.failures += 1;
                    // The first failure and then every 20th: a chain that is down for a
                    // while is one line per few seconds, not one per tick.
                    if act.failures == 1 || act.failures.is_multiple_of(20) {
                        tracing::warn!(actor = %act.name, failures = act.failures, error = %e, "step failed; retrying");
                    }
                    metrics::counter!("manyfold_settlement_step_failures_total", "actor" => act.name.clone()).increment(1);
                }
            }
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
