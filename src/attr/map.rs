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
/// events: a sorted vector costs one allocation the size of its entries,
/// where a `BTreeMap` allocates a node of eleven slots (over 500 bytes) for
/// a single entry. Lookups are a binary search; inserts and removals move
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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attrs {
    entries: Vec<(Symbol, AttrValue)>,
}

impl Attrs {
    /// No attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of attributes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn slot(&self, name: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    /// The value of an attribute.
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        self.slot(name)
            .ok()
            .and_then(|i| self.entries.get(i))
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
                .entries
                .get_mut(i)
                .map(|(_, v)| std::mem::replace(v, value)),
            Err(i) => {
                self.entries.insert(i, (name, value));
                None
            }
        }
    }

    /// The value of an attribute, to change in place.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut AttrValue> {
        let i = self.slot(name).ok()?;
        self.entries.get_mut(i).map(|(_, v)| v)
    }

    /// Keeps the attributes for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Symbol, &mut AttrValue) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// Unsets every attribute.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Unsets an attribute; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<AttrValue> {
        let i = self.slot(name).ok()?;
        Some(self.entries.remove(i).1)
    }

    /// The attributes in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&Symbol, &AttrValue)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The names in order.
    pub fn keys(&self) -> impl Iterator<Item = &Symbol> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in name order.
    pub fn values(&self) -> impl Iterator<Item = &AttrValue> {
        self.entries.iter().map(|(_, v)| v)
    }
}

impl Attrs {
    /// A map from entries in any order (the last value of a name wins),
    /// taking the vector as it is when it is already a valid map (the
    /// usual case for a parsed event): no copy, no slack kept.
    pub(crate) fn from_entries(mut entries: Vec<(Symbol, AttrValue)>) -> Self {
        if entries.is_sorted_by(|a, b| a.0 < b.0) {
            entries.shrink_to_fit();
            Self { entries }
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
        let mut items: Vec<(Symbol, AttrValue)> =
            iter.into_iter().map(|(k, v)| (k.into(), v)).collect();
        if self.entries.is_empty() && items.is_sorted_by(|a, b| a.0 < b.0) {
            // Already a valid map (the usual case for parsed events).
            self.entries = items;
        } else {
            for (k, v) in items.drain(..) {
                self.insert(k, v);
            }
        }
        // An event's attributes live as long as its lead: no growth slack
        // (a parsed map of one entry would otherwise hold room for four).
        // Shrinking reallocates in place.
        self.entries.shrink_to_fit();
    }
}

impl From<std::collections::BTreeMap<String, AttrValue>> for Attrs {
    fn from(map: std::collections::BTreeMap<String, AttrValue>) -> Self {
        // Already sorted, each name once.
        Self {
            entries: map.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        }
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
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Attrs {
    type Item = (&'a Symbol, &'a AttrValue);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Symbol, AttrValue)>,
        fn(&'a (Symbol, AttrValue)) -> (&'a Symbol, &'a AttrValue),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl Serialize for Attrs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
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
