//! Quaternary sparse Merkle trees hashed with Poseidon.
//!
//! Arity 4 matches the Poseidon rate used everywhere ([`manyfold_types::poseidon::RATE`]):
//! a node is one permutation of its four children. Against a binary tree over the same
//! leaves this halves the depth, and in the circuit one width-5 permutation costs far less
//! than two width-3 ones, so a membership proof is roughly 40% cheaper to check.
//!
//! Heights count from the leaves (height 0) to the root (height `depth`). Leaves are field
//! elements; an absent leaf is zero, and an all-empty subtree of height `h` hashes to
//! `empty_hash(h)`, so only non-empty nodes are stored.

use std::collections::HashMap;
use std::sync::LazyLock;

use manyfold_types::poseidon::{hash, Domain};
use manyfold_types::Fr;

/// Children per node.
pub const ARITY: usize = 4;

/// The deepest tree the state uses (the account tree).
pub const MAX_DEPTH: usize = 12;

static EMPTY: LazyLock<Vec<Fr>> = LazyLock::new(|| {
    let mut empty = vec![Fr::from(0u64)];
    for h in 1..=MAX_DEPTH {
        let child = empty[h - 1];
        empty.push(hash(Domain::Node, &[child; ARITY]));
    }
    empty
});

/// The hash of an all-empty subtree of height `height`.
pub fn empty_hash(height: usize) -> Fr {
    EMPTY[height]
}

/// Hash of an inner node.
pub fn node_hash(children: &[Fr; ARITY]) -> Fr {
    hash(Domain::Node, children)
}

/// A sparse quaternary Merkle tree of fixed depth.
#[derive(Debug, Clone)]
pub struct SparseMerkleTree {
    depth: usize,
    /// Non-empty nodes by (height, index at that height).
    nodes: HashMap<(u8, u64), Fr>,
}

/// The siblings on the path from a leaf to the root: for each height from the leaves up,
/// the three other children of the node being entered, in child order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerklePath(pub Vec<[Fr; ARITY - 1]>);

impl SparseMerkleTree {
    /// An empty tree with `4^depth` leaves.
    pub fn new(depth: usize) -> Self {
        assert!(depth <= MAX_DEPTH, "tree depth {depth} exceeds {MAX_DEPTH}");
        Self {
            depth,
            nodes: HashMap::new(),
        }
    }

    /// A tree holding `leaves`, built level by level (each node hashed once).
    pub fn from_leaves(depth: usize, leaves: impl IntoIterator<Item = (u64, Fr)>) -> Self {
        let mut tree = Self::new(depth);
        let mut level: HashMap<u64, Fr> = leaves
            .into_iter()
            .filter(|(_, v)| *v != empty_hash(0))
            .collect();
        for height in 0..depth {
            let parents: std::collections::HashSet<u64> =
                level.keys().map(|i| i / ARITY as u64).collect();
            let mut next = HashMap::with_capacity(parents.len());
            for parent in parents {
                let children = std::array::from_fn(|c| {
                    let i = parent * ARITY as u64 + c as u64;
                    level.get(&i).copied().unwrap_or(empty_hash(height))
                });
                next.insert(parent, node_hash(&children));
            }
            for (i, v) in level {
                tree.nodes.insert((height as u8, i), v);
            }
            level = next;
        }
        for (i, v) in level {
            tree.nodes.insert((depth as u8, i), v);
        }
        tree
    }

    /// The depth.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Number of leaves.
    pub fn capacity(&self) -> u64 {
        (ARITY as u64).pow(self.depth as u32)
    }

    /// The root.
    pub fn root(&self) -> Fr {
        self.node(self.depth, 0)
    }

    /// The leaf at `index`.
    pub fn leaf(&self, index: u64) -> Fr {
        self.node(0, index)
    }

    fn node(&self, height: usize, index: u64) -> Fr {
        self.nodes
            .get(&(height as u8, index))
            .copied()
            .unwrap_or(empty_hash(height))
    }

    fn put(&mut self, height: usize, index: u64, value: Fr) {
        if value == empty_hash(height) {
            self.nodes.remove(&(height as u8, index));
        } else {
            self.nodes.insert((height as u8, index), value);
        }
    }

    /// Sets the leaf at `index` and updates its path to the root.
    ///
    /// # Panics
    /// If `index` is beyond the tree's capacity; ids are range-checked by their types.
    pub fn set(&mut self, index: u64, value: Fr) {
        assert!(
            index < self.capacity(),
            "leaf {index} beyond a tree of depth {}",
            self.depth
        );
        self.put(0, index, value);
        let mut index = index;
        for height in 1..=self.depth {
            index /= ARITY as u64;
            let children = self.children(height, index);
            self.put(height, index, node_hash(&children));
        }
    }

    fn children(&self, height: usize, index: u64) -> [Fr; ARITY] {
        std::array::from_fn(|c| self.node(height - 1, index * ARITY as u64 + c as u64))
    }

    /// The Merkle path of leaf `index`.
    pub fn path(&self, index: u64) -> MerklePath {
        assert!(
            index < self.capacity(),
            "leaf {index} beyond a tree of depth {}",
            self.depth
        );
        let mut siblings = Vec::with_capacity(self.depth);
        let mut index = index;
        for height in 1..=self.depth {
            let parent = index / ARITY as u64;
            let position = (index % ARITY as u64) as usize;
            let children = self.children(height, parent);
            let mut others = [Fr::from(0u64); ARITY - 1];
            let mut k = 0;
            for (c, child) in children.iter().enumerate() {
                if c != position {
                    others[k] = *child;
                    k += 1;
                }
            }
            siblings.push(others);
            index = parent;
        }
        MerklePath(siblings)
    }
}

impl SparseMerkleTree {
    /// The path of leaf `index` as it would be if leaf `changed` held `value`, computed
    /// without touching the tree (depth hashes for the changed leaf's ancestors).
    pub fn path_with(&self, index: u64, changed: u64, value: Fr) -> MerklePath {
        let mut overrides: HashMap<(usize, u64), Fr> = HashMap::new();
        overrides.insert((0, changed), value);
        let mut node = changed;
        let mut acc = value;
        for height in 1..=self.depth {
            let parent = node / ARITY as u64;
            let children: [Fr; ARITY] = std::array::from_fn(|c| {
                let i = parent * ARITY as u64 + c as u64;
                if i == node {
                    acc
                } else {
                    self.node(height - 1, i)
                }
            });
            acc = node_hash(&children);
            overrides.insert((height, parent), acc);
            node = parent;
        }
        let lookup = |height: usize, i: u64| {
            overrides
                .get(&(height, i))
                .copied()
                .unwrap_or_else(|| self.node(height, i))
        };
        let mut siblings = Vec::with_capacity(self.depth);
        let mut index = index;
        for height in 1..=self.depth {
            let parent = index / ARITY as u64;
            let position = index % ARITY as u64;
            let mut others = [Fr::from(0u64); ARITY - 1];
            let mut k = 0;
            for c in 0..ARITY as u64 {
                if c != position {
                    others[k] = lookup(height - 1, parent * ARITY as u64 + c);
                    k += 1;
                }
            }
            siblings.push(others);
            index = parent;
        }
        MerklePath(siblings)
    }
}

impl MerklePath {
    /// The root obtained by hashing `leaf` at `index` up this path.
    pub fn root_of(&self, index: u64, leaf: Fr) -> Fr {
        let mut acc = leaf;
        let mut index = index;
        for others in &self.0 {
            let position = (index % ARITY as u64) as usize;
            let mut children = [Fr::from(0u64); ARITY];
            let mut k = 0;
            for (c, child) in children.iter_mut().enumerate() {
                if c == position {
                    *child = acc;
                } else {
                    *child = others[k];
                    k += 1;
                }
            }
            acc = node_hash(&children);
            index /= ARITY as u64;
        }
        acc
    }

    /// Whether `leaf` at `index` is in the tree of `root`.
    pub fn verify(&self, root: Fr, index: u64, leaf: Fr) -> bool {
        (ARITY as u64)
            .checked_pow(self.0.len() as u32)
            .is_some_and(|cap| index < cap)
            && self.root_of(index, leaf) == root
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn paths_with_an_override_match_the_updated_tree(a in 0u64..256, b in 0u64..256, v in 1u64..) {
            let mut tree = SparseMerkleTree::new(4);
            tree.set(5, Fr::from(3u64));
            tree.set(a, Fr::from(7u64));
            let predicted = tree.path_with(b, a, Fr::from(v));
            tree.set(a, Fr::from(v));
            prop_assert_eq!(predicted, tree.path(b));
        }

        #[test]
        fn incremental_and_bulk_builds_agree(leaves in proptest::collection::vec((0u64..256, 0u64..5), 0..40)) {
            let mut tree = SparseMerkleTree::new(4);
            let mut last = HashMap::new();
            for (i, v) in &leaves {
                tree.set(*i, Fr::from(*v));
                last.insert(*i, Fr::from(*v));
            }
            let bulk = SparseMerkleTree::from_leaves(4, last.clone());
            prop_assert_eq!(bulk.root(), tree.root());
            for (i, v) in last {
                prop_assert!(tree.path(i).verify(tree.root(), i, v));
            }
        }

        #[test]
        fn tampered_paths_fail(index in 0u64..4096, value in 1u64.., level in 0usize..6, slot in 0usize..3) {
            let mut tree = SparseMerkleTree::new(6);
            tree.set(index, Fr::from(value));
            tree.set((index + 1) % 4096, Fr::from(9u64));
            let path = tree.path(index);
            prop_assert!(path.verify(tree.root(), index, Fr::from(value)));
            prop_assert!(!path.verify(tree.root(), index, Fr::from(value) + Fr::from(1u64)));
            prop_assert!(!path.verify(tree.root(), index ^ 1, Fr::from(value)));
            let mut bad = path.clone();
            bad.0[level][slot] += Fr::from(1u64);
            prop_assert!(!bad.verify(tree.root(), index, Fr::from(value)));
        }
    }

    #[test]
    fn empty_tree_root_is_the_empty_hash_and_clearing_restores_it() {
        let mut tree = SparseMerkleTree::new(5);
        assert_eq!(tree.root(), empty_hash(5));
        tree.set(17, Fr::from(3u64));
        assert_ne!(tree.root(), empty_hash(5));
        tree.set(17, Fr::from(0u64));
        assert_eq!(tree.root(), empty_hash(5));
        assert!(
            tree.nodes.is_empty(),
            "cleared leaves leave no stored nodes"
        );
    }
}
