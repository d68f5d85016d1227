//! The seam every cross-lead partial state implements: build partial states
//! over partitions of the input, [`merge`](Mergeable::merge) them in any
//! grouping and order, and get exactly the single-pass result.
//!
//! ```
//! use leadflow::Mergeable;
//!
//! #[derive(Debug, Default, PartialEq)]
//! struct Count(u64);
//! impl Mergeable for Count {
//!     fn merge(&mut self, other: Self) {
//!         self.0 += other.0;
//!     }
//! }
//! let mut a = Count(2);
//! a.merge(Count(3));
//! assert_eq!(a, Count(5));
//! ```

/// A partial state that merges: `Default` is the identity, and `merge` is
/// associative and commutative (up to the state's documented
/// normalization), so partitions merged in any grouping and order give the
/// single-pass state.
pub trait Mergeable: Default {
    /// Folds `other` into `self`.
    fn merge(&mut self, other: Self);

    /// Merges many partial states into one.
    fn merge_all(parts: impl IntoIterator<Item = Self>) -> Self {
        let mut acc = Self::default();
        for p in parts {
            acc.merge(p);
        }
        acc
    }
}

/// Maps with composite keys serialize as lists of `[key, value]` pairs, so
/// that every format (JSON included, whose keys are strings) can carry them.
pub(crate) mod entries {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub(crate) fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
