//! Hashing: a small, fast, fixed hash for keys the crate or the config owns
//! (integers and slices of them with [`Fx`], text with [`FxText`]), and the
//! map types for keys from host data.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::types::EventId;

/// A word-at-a-time multiplicative hash in the style of rustc's FxHash, for
/// integer keys the crate makes (channel ids, Markov states and edges),
/// where a cheap hash matters and nobody outside can craft collisions;
/// text keys take [`FxText`]. Maps keyed by event or lead ids from the
/// host's data use [`IdMap`] (a randomly seeded hash) instead.
#[derive(Default)]
pub(crate) struct Fx(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        // The multiply leaves its best-mixed bits high; hash tables index
        // by the low bits, so bring those high bits down (as rustc-hash 2
        // does). Enough for integer keys and slices of them; text keys
        // take [`FxText`], whose finish mixes every bit.
        self.0.rotate_left(26)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = c.try_into().map_or(0, u64::from_le_bytes);
            self.add(word);
        }
        let tail = chunks
            .remainder()
            .iter()
            .rev()
            .fold(0u64, |w, &b| (w << 8) | u64::from(b));
        self.add(tail ^ ((bytes.len() as u64) << 56));
    }
}

/// [`Fx`] for text keys (activity kinds, channel and attribute names) and,
/// being fixed, for stable fingerprints. The multiply carries a word's
/// bits upward only, so [`Fx`]'s state never mixes a text's last bytes (the
/// highest of its last word) into its low bits, and a rotation only moves
/// that blind spot: names that differ in their last characters (`kind_1`,
/// `kind_2`, …) crowded into a few slots of any table indexed by a bit
/// range. MurmurHash3's finalizer makes every bit of the result depend on
/// every bit of the state, for a few instructions more per key.
#[derive(Default)]
pub(crate) struct FxText(Fx);

impl Hasher for FxText {
    fn finish(&self) -> u64 {
        let mut h = self.0.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }
}

/// A hash map keyed by text the crate or the config owns, hashed by
/// [`FxText`].
pub(crate) type TextMap<K, V> = HashMap<K, V, BuildHasherDefault<FxText>>;

/// The hash of a string's bytes ([`FxText`]).
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h = FxText::default();
    h.write(s.as_bytes());
    h.finish()
}

/// String equality that settles most mismatches of short keys on length
/// and first byte, before any library call.
pub(crate) fn same_str(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// A hash map keyed by host data (event ids, lead ids): foldhash, seeded
/// at random per process — several times faster than std's SipHash on
/// short ids, and still resistant to crafted collisions (nobody outside
/// knows the seed), so crafted ids cannot make a map quadratic.
pub(crate) type IdMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The set counterpart of [`IdMap`].
pub(crate) type IdSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Event ids to values, each entry keeping its id's hash (foldhash, seeded
/// at random like [`IdMap`]): a table of a million ids grows by moving
/// entries, without reading and hashing every id again (a cache miss per
/// id, for ids that live in events all over memory).
#[derive(Debug, Clone)]
pub(crate) struct IdTable<V> {
    table: hashbrown::HashTable<(u64, EventId, V)>,
    state: foldhash::fast::RandomState,
}

impl<V> Default for IdTable<V> {
    fn default() -> Self {
        Self {
            table: hashbrown::HashTable::new(),
            state: foldhash::fast::RandomState::default(),
        }
    }
}

impl<V> IdTable<V> {
    fn hash(&self, id: &EventId) -> u64 {
        std::hash::BuildHasher::hash_one(&self.state, id.as_str())
    }

    /// The value of `id`.
    pub(crate) fn get(&self, id: &EventId) -> Option<&V> {
        self.find_or_hash(id).ok()
    }

    /// The value of `id`, or the hash it would be filed under when the
    /// table does not hold it (for [`insert_new`](Self::insert_new), which
    /// then need not hash it again).
    pub(crate) fn find_or_hash(&self, id: &EventId) -> Result<&V, IdHash> {
        let hash = self.hash(id);
        self.table
            .find(hash, |(h, k, _)| *h == hash && k == id)
            .map(|(_, _, v)| v)
            .ok_or(IdHash(hash))
    }

    /// Files `id`, which the table does not hold, under the hash
    /// [`find_or_hash`](Self::find_or_hash) gave for it in this table.
    pub(crate) fn insert_new(&mut self, hash: IdHash, id: EventId, value: V) {
        self.table
            .insert_unique(hash.0, (hash.0, id, value), |(h, _, _)| *h);
    }

    /// Sets the value of `id`; returns the one it replaces.
    pub(crate) fn insert(&mut self, id: EventId, value: V) -> Option<V> {
        let hash = self.hash(&id);
        match self
            .table
            .entry(hash, |(h, k, _)| *h == hash && *k == id, |(h, _, _)| *h)
        {
            hashbrown::hash_table::Entry::Occupied(mut slot) => {
                Some(std::mem::replace(&mut slot.get_mut().2, value))
            }
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert((hash, id, value));
                None
            }
        }
    }

    /// Whether the table holds `id`.
    pub(crate) fn contains(&self, id: &EventId) -> bool {
        self.get(id).is_some()
    }

    /// Takes `id` out; returns its value.
    pub(crate) fn remove(&mut self, id: &EventId) -> Option<V> {
        let hash = self.hash(id);
        self.table
            .find_entry(hash, |(h, k, _)| *h == hash && k == id)
            .ok()
            .map(|slot| slot.remove().0.2)
    }

    /// Makes room for `n` more ids.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.table.reserve(n, |(h, _, _)| *h);
    }

    /// The slot of an id the table does not hold yet, to fill; `None` when
    /// it holds it.
    pub(crate) fn vacant(&mut self, id: &EventId) -> Option<Vacant<'_, V>> {
        let hash = self.hash(id);
        match self
            .table
            .entry(hash, |(h, k, _)| *h == hash && k == id, |(h, _, _)| *h)
        {
            hashbrown::hash_table::Entry::Occupied(_) => None,
            hashbrown::hash_table::Entry::Vacant(slot) => Some(Vacant {
                slot,
                hash,
                id: id.clone(),
            }),
        }
    }
}

/// The hash an [`IdTable`] files an absent id under: valid for that table
/// only (each table has its own seed), until the id is filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdHash(u64);

/// A free slot of an [`IdTable`], for one id.
pub(crate) struct Vacant<'a, V> {
    slot: hashbrown::hash_table::VacantEntry<'a, (u64, EventId, V)>,
    hash: u64,
    id: EventId,
}

impl<V> Vacant<'_, V> {
    /// Fills the slot.
    pub(crate) fn insert(self, value: V) {
        self.slot.insert((self.hash, self.id, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many of `size` slots the keys take, indexing by the low bits
    /// and by the high bits of their hash.
    fn spread(keys: &[String], size: usize) -> (usize, usize) {
        let bits = size.trailing_zeros();
        let mut low = std::collections::HashSet::new();
        let mut high = std::collections::HashSet::new();
        for k in keys {
            let h = hash_str(k);
            low.insert(h as usize & (size - 1));
            high.insert((h >> (64 - bits)) as usize);
        }
        (low.len(), high.len())
    }

    /// Names that differ only in their last characters spread over a
    /// table as random keys would: 1 000 keys take about 885 of 4 096
    /// slots. The hash this replaced put 100 `kind_N` names in one slot of
    /// the reader's name cache.
    #[test]
    fn names_differing_at_the_end_spread_over_every_bit_range() {
        for keys in [
            (0..1_000).map(|i| format!("kind_{i}")).collect::<Vec<_>>(),
            (0..1_000).map(|i| format!("k{i}")).collect(),
            (0..1_000).map(|i| format!("e{i:08}")).collect(),
            (0..1_000).map(|i| format!("page_view_{i}")).collect(),
        ] {
            let (low, high) = spread(&keys, 4_096);
            assert!(low > 820 && high > 820, "{}: {low} / {high}", keys[0]);
        }
    }
}
