//! The Manyfold step circuit (DESIGN §5): one op per Nova IVC step, one shape for every op
//! type, enforcing exactly the rules of `manyfold-state`.
//!
//! - IVC state: `[state root, pubdata commitment]`.
//! - [`StepWitness::build`] derives a step's witness from the state before the op (for any
//!   op: the circuit is unsatisfiable for one the state refuses); [`OpStep`] is the
//!   `StepCircuit`.
//! - Every hash is `manyfold_types::poseidon`'s, with the same constants, so roots and the
//!   pubdata commitment equal the native ones.

mod gadgets;
mod step;
mod witness;

pub use step::{OpStep, OPS_PER_STEP};
pub use witness::{LeafWitness, SignatureWitness, StepWitness, SCALAR_BITS};
