//! Channel names interned to dense ids: the one interner of path tables,
//! Markov and Shapley.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::hash::{Fx, TextMap};

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// Slots of the direct-mapped cache of recent channel names (see
/// `Channels::recent`): repeated names skip the map.
const RECENT_SLOTS: usize = 256;

/// Channel names interned to dense ids, in order of first appearance.
#[derive(Debug, Clone)]
pub(crate) struct Channels {
    pub(crate) names: Vec<String>,
    index: TextMap<String, u32>,
    /// A direct-mapped cache keyed by length and end bytes: channel sets are
    /// small, so most lookups end here without hashing the name.
    recent: Box<[u32; RECENT_SLOTS]>,
}

impl Default for Channels {
    fn default() -> Self {
        Self {
            names: Vec::new(),
            index: TextMap::default(),
            recent: Box::new([u32::MAX; RECENT_SLOTS]),
        }
    }
}

impl Channels {
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        let b = name.as_bytes();
        let slot = (b.len()
            ^ usize::from(b.first().copied().unwrap_or(0)).wrapping_mul(31)
            ^ usize::from(b.last().copied().unwrap_or(0)).wrapping_mul(131))
            & 255;
        if let Some(&id) = self.recent.get(slot)
            && self
                .names
                .get(id as usize)
                .is_some_and(|n| same_bytes(n.as_bytes(), b))
        {
            return id;
        }
        let id = match self.index.get(name) {
            Some(&id) => id,
            None => {
                let id = self.names.len() as u32;
                self.names.push(name.to_owned());
                self.index.insert(name.to_owned(), id);
                id
            }
        };
        if let Some(r) = self.recent.get_mut(slot) {
            *r = id;
        }
        id
    }

    pub(crate) fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", String::as_str)
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}

/// Byte equality without a library call for the short names channels have.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}
