//! [`Attrs`]: a small map of attributes stored as one sorted vector.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::AttrValue;
use crate::types::Symbol;

/// Attributes by name, sorted by name, each name once.
///
/// Events carry a handful of attributes each, and a log holds millions of
/// events: a single attribute is held inline, and several in a sorted
/// vector (one allocation the size of its entries), where a `BTreeMap`
/// allocates a node of eleven slots (over 500 bytes) for a single entry. Lookups are a binary search; inserts and removals move
/// the entries after the slot (linear, fine for the few attributes a lead
/// or an activity has). Serialized as a JSON object; when an object names
/// a key twice, the last value wins.
///
/// ```
/// use leadflow::{AttrValue, Attrs};
/// let mut attrs = Attrs::new();
/// attrs.insert("url".into(), "/pricing".into());
/// attrs.insert("employees".into(), AttrValue::Number(250.0));
/// assert_eq!(attrs.get("url"), Some(&AttrValue::from("/pricing")));
/// let names: Vec<&str> = attrs.keys().map(|k| k.as_str()).collect();
/// assert_eq!(names, ["employees", "url"]);
/// assert_eq!(serde_json::to_string(&attrs).unwrap(), r#"{"employees":250.0,"url":"/pricing"}"#);
/// ```
#[derive(Clone, Default)]
pub struct Attrs {
    entries: Entries,
}

/// An attribute map's entries, sorted by name.
#[derive(Clone)]
enum Entries {
    /// One attribute, held inline: most activities carry one (a page
    /// view's URL), and a heap block of its own would cost more memory
    /// than the entry and a cache miss each time a fold reads it.
    One((Symbol, AttrValue)),
    /// None, or several (a boxed slice: no growth slack, and the map
    /// stays as small as its inline entry).
    Many(Box<[(Symbol, AttrValue)]>),
}

impl Default for Entries {
    fn default() -> Self {
        Entries::Many(Box::default())
    }
}

impl fmt::Debug for Attrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attrs")
            .field("entries", &self.as_slice())
            .finish()
    }
}

impl PartialEq for Attrs {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Attrs {
    /// No attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of attributes.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    fn as_slice(&self) -> &[(Symbol, AttrValue)] {
        match &self.entries {
            Entries::One(entry) => std::slice::from_ref(entry),
            Entries::Many(entries) => entries,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [(Symbol, AttrValue)] {
        match &mut self.entries {
            Entries::One(entry) => std::slice::from_mut(entry),
            Entries::Many(entries) => entries,
        }
    }

    /// The entries as a vector, leaving the map empty.
    fn take_vec(&mut self) -> Vec<(Symbol, AttrValue)> {
        match std::mem::take(&mut self.entries) {
            Entries::One(entry) => vec![entry],
            Entries::Many(entries) => entries.into_vec(),
        }
    }

    /// Sets the entries (sorted, each name once): one is held inline, and
    /// several without growth slack (an event's attributes live as long as
    /// its lead).
    fn set_vec(&mut self, mut entries: Vec<(Symbol, AttrValue)>) {
        self.entries = if entries.len() == 1
            && let Some(entry) = entries.pop()
        {
            Entries::One(entry)
        } else {
            Entries::Many(entries.into_boxed_slice())
        };
    }

    fn slot(&self, name: &str) -> Result<usize, usize> {
        self.as_slice()
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    /// The value of an attribute.
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        self.slot(name)
            .ok()
            .and_then(|i| self.as_slice().get(i))
            .map(|(_, v)| v)
    }

    /// Whether an attribute is set.
    pub fn contains_key(&self, name: &str) -> bool {
        self.slot(name).is_ok()
    }

    /// Sets an attribute; returns its previous value.
    pub fn insert(&mut self, name: Symbol, value: AttrValue) -> Option<AttrValue> {
        match self.slot(&name) {
            Ok(i) => self
                .as_mut_slice()
                .get_mut(i)
                .map(|(_, v)| std::mem::replace(v, value)),
            Err(i) => {
                if self.is_empty() {
                    self.entries = Entries::One((name, value));
                } else {
                    let mut entries = self.take_vec();
                    entries.insert(i, (name, value));
                    self.set_vec(entries);
                }
                None
            }
        }
    }

    /// The value of an attribute, to change in place.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut AttrValue> {
        let i = self.slot(name).ok()?;
        self.as_mut_slice().get_mut(i).map(|(_, v)| v)
    }

    /// Keeps the attributes for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Symbol, &mut AttrValue) -> bool) {
        let mut entries = self.take_vec();
        entries.retain_mut(|(k, v)| keep(k, v));
        self.set_vec(entries);
    }

    /// Unsets every attribute.
    pub fn clear(&mut self) {
        self.entries = Entries::default();
    }

    /// Unsets an attribute; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<AttrValue> {
        let i = self.slot(name).ok()?;
        let mut entries = self.take_vec();
        let (_, value) = entries.remove(i);
        self.set_vec(entries);
        Some(value)
    }

    /// The attributes in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&Symbol, &AttrValue)> {
        self.as_slice().iter().map(|(k, v)| (k, v))
    }

    /// The names in order.
    pub fn keys(&self) -> impl Iterator<Item = &Symbol> {
        self.as_slice().iter().map(|(k, _)| k)
    }

    /// The values in name order.
    pub fn values(&self) -> impl Iterator<Item = &AttrValue> {
        self.as_slice().iter().map(|(_, v)| v)
    }
}

impl Attrs {
    /// A map of one attribute (no heap block for it).
    pub(crate) fn one(name: Symbol, value: AttrValue) -> Self {
        Self {
            entries: Entries::One((name, value)),
        }
    }

    /// A map from entries in any order (the last value of a name wins),
    /// taking the vector as it is when it is already a valid map (the
    /// usual case for a parsed event): no copy, no slack kept.
    pub(crate) fn from_entries(entries: Vec<(Symbol, AttrValue)>) -> Self {
        if entries.is_sorted_by(|a, b| a.0 < b.0) {
            let mut attrs = Self::new();
            attrs.set_vec(entries);
            attrs
        } else {
            entries.into_iter().collect()
        }
    }
}

impl<K: Into<Symbol>> FromIterator<(K, AttrValue)> for Attrs {
    fn from_iter<I: IntoIterator<Item = (K, AttrValue)>>(iter: I) -> Self {
        let mut attrs = Self::new();
        attrs.extend(iter);
        attrs
    }
}

impl<K: Into<Symbol>> Extend<(K, AttrValue)> for Attrs {
    /// Later entries win over earlier ones of the same name.
    fn extend<I: IntoIterator<Item = (K, AttrValue)>>(&mut self, iter: I) {
        let items: Vec<(Symbol, AttrValue)> =
            iter.into_iter().map(|(k, v)| (k.into(), v)).collect();
        if self.is_empty() && items.is_sorted_by(|a, b| a.0 < b.0) {
            // Already a valid map (the usual case for parsed events).
            self.set_vec(items);
        } else {
            for (k, v) in items {
                self.insert(k, v);
            }
            // An event's attributes live as long as its lead: no growth
            // slack (shrinking reallocates in place).
            let entries = self.take_vec();
            self.set_vec(entries);
        }
    }
}

impl From<std::collections::BTreeMap<String, AttrValue>> for Attrs {
    fn from(map: std::collections::BTreeMap<String, AttrValue>) -> Self {
        // Already sorted, each name once.
        let mut attrs = Self::new();
        attrs.set_vec(map.into_iter().map(|(k, v)| (k.into(), v)).collect());
        attrs
    }
}

impl<K: Into<Symbol>, const N: usize> From<[(K, AttrValue); N]> for Attrs {
    fn from(items: [(K, AttrValue); N]) -> Self {
        items.into_iter().collect()
    }
}

impl IntoIterator for Attrs {
    type Item = (Symbol, AttrValue);
    type IntoIter = std::vec::IntoIter<(Symbol, AttrValue)>;
    fn into_iter(mut self) -> Self::IntoIter {
        self.take_vec().into_iter()
    }
}

impl<'a> IntoIterator for &'a Attrs {
    type Item = (&'a Symbol, &'a AttrValue);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Symbol, AttrValue)>,
        fn(&'a (Symbol, AttrValue)) -> (&'a Symbol, &'a AttrValue),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter().map(|(k, v)| (k, v))
    }
}

impl Serialize for Attrs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self.as_slice() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Attrs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of attribute values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Attrs, A::Error> {
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = access.next_entry::<Symbol, AttrValue>()? {
                    entries.push(entry);
                }
                Ok(entries.into_iter().collect())
            }
        }
        deserializer.deserialize_map(V)
    }
}
