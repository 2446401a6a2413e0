//! Folding ops into a recursive SNARK and compressing it.

use std::time::Instant;

use manyfold_circuits::{OpStep, StepWitness, OPS_PER_STEP};
use manyfold_types::Fr;
use nova_snark::nova::RecursiveSNARK;

use crate::params::{Params, Snark, E1, E2};
use crate::verify::PublicValues;

/// Errors of proving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProveError {
    /// Nova could not fold or compress (an unsatisfiable step: a bug, since only ops the
    /// state accepted are folded).
    #[error("nova: {0}")]
    Nova(String),
    /// Compression of zero steps.
    #[error("nothing to compress: no step was folded")]
    Empty,
    /// Compression with ops still waiting for their step.
    #[error("{0} ops wait for their step: flush before compressing")]
    Unflushed(usize),
}

/// A compressed proof of a range of steps with its public values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockProof {
    /// What the proof claims.
    pub public: PublicValues,
    /// The compressed SNARK, bincode-encoded.
    pub snark: Vec<u8>,
}

/// An in-progress fold of consecutive ops, [`OPS_PER_STEP`] per IVC step.
pub struct Folding {
    start: [Fr; 2],
    snark: Option<RecursiveSNARK<E1, E2, OpStep>>,
    steps: usize,
    ops: usize,
    pending: Vec<StepWitness>,
}

impl Folding {
    /// A fold starting from `state_root` and `commitment`.
    pub fn new(state_root: Fr, commitment: Fr) -> Self {
        Self {
            start: [state_root, commitment],
            snark: None,
            steps: 0,
            ops: 0,
            pending: Vec::new(),
        }
    }

    /// IVC steps folded so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Ops taken so far (folded or waiting for their step to fill).
    pub fn ops(&self) -> usize {
        self.ops
    }

    /// The IVC state after the folded steps.
    pub fn current(&self) -> [Fr; 2] {
        match &self.snark {
            Some(s) => [s.outputs()[0], s.outputs()[1]],
            None => self.start,
        }
    }

    /// Takes one op; every [`OPS_PER_STEP`] ops fold into one step.
    pub fn fold(&mut self, params: &Params, witness: StepWitness) -> Result<(), ProveError> {
        self.pending.push(witness);
        self.ops += 1;
        if self.pending.len() == OPS_PER_STEP {
            let ops = std::mem::take(&mut self.pending);
            let padding = ops[OPS_PER_STEP - 1].clone(); // unused: the step is full
            self.prove_step(params, OpStep::new(ops, padding))?;
        }
        Ok(())
    }

    /// Folds the ops still waiting into a last, partly filled step. `padding` is the
    /// witness of a Noop on the state after the last op.
    pub fn flush(&mut self, params: &Params, padding: StepWitness) -> Result<(), ProveError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let ops = std::mem::take(&mut self.pending);
        self.prove_step(params, OpStep::new(ops, padding))
    }

    fn prove_step(&mut self, params: &Params, step: OpStep) -> Result<(), ProveError> {
        let started = Instant::now();
        let snark = match &mut self.snark {
            Some(s) => s,
            None => self.snark.insert(
                RecursiveSNARK::new(&params.pp, &step, &self.start)
                    .map_err(|e| ProveError::Nova(e.to_string()))?,
            ),
        };
        snark
            .prove_step(&params.pp, &step)
            .map_err(|e| ProveError::Nova(e.to_string()))?;
        self.steps += 1;
        let seconds = started.elapsed().as_secs_f64();
        metrics::counter!("manyfold_prover_steps_total").increment(1);
        metrics::histogram!("manyfold_prover_step_seconds").record(seconds);
        tracing::debug!(steps = self.steps, seconds, "folded a step");
        // A step folded in memory, the range's proof not stored yet.
        manyfold_types::crash::point("prover.mid_fold");
        Ok(())
    }

    /// Compresses every folded step into one SNARK; [`Folding::flush`] must come first.
    pub fn compress(&self, params: &Params) -> Result<BlockProof, ProveError> {
        if !self.pending.is_empty() {
            return Err(ProveError::Unflushed(self.pending.len()));
        }
        let snark = self.snark.as_ref().ok_or(ProveError::Empty)?;
        let started = Instant::now();
        let compressed = Snark::prove(&params.pp, &params.pk, snark)
            .map_err(|e| ProveError::Nova(e.to_string()))?;
        let bytes = bincode::serde::encode_to_vec(&compressed, bincode::config::legacy())
            .map_err(|e| ProveError::Nova(e.to_string()))?;
        let seconds = started.elapsed().as_secs_f64();
        metrics::histogram!("manyfold_prover_compress_seconds").record(seconds);
        tracing::info!(
            steps = self.steps,
            seconds,
            bytes = bytes.len(),
            "compressed a proof"
        );
        let [new_root, new_commitment] = self.current();
        Ok(BlockProof {
            public: PublicValues {
                old_root: self.start[0],
                old_commitment: self.start[1],
                new_root,
                new_commitment,
                steps: self.steps as u64,
            },
            snark: bytes,
        })
    }
}
