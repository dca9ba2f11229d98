//! [`Raw`]: a value kept as the client's text, checked as a tree would check it.

use std::cell::Cell;
use std::fmt;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::Skip;

/// A whole JSON value kept as the client's own text, where it goes on as it came (tool
/// schemas, tool inputs): one copy instead of a tree built and written again. It is checked as
/// a `Value` would check it (number range, UTF-8, nesting), so a document a tree refused is
/// still refused, with the same error ([`parse`](super::parse)). `None` when the field is
/// absent.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Raw<'a>(pub Option<&'a RawValue>);

impl<'a> Raw<'a> {
    /// The text, if present (a captured value never starts or ends with whitespace).
    pub fn text(&self) -> Option<&'a str> {
        self.0.map(RawValue::get)
    }

    /// The value as a tree, if present (already checked, so it parses).
    pub fn to_value(self) -> Option<serde_json::Value> {
        self.text().and_then(|text| serde_json::from_str(text).ok())
    }

    /// The value read as `T` (a `Text`, `Flag`, `Obj`...), or `T`'s empty reading.
    pub fn read<T: Deserialize<'a> + Default>(&self) -> T {
        self.text()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default()
    }
}

/// How deep a [`Raw`] value may nest before [`parse`](super::parse) checks the whole
/// document against `serde_json`'s limit (128 levels in all): no field kept raw sits anywhere
/// near 64 levels down, so below this the value alone decides.
const RAW_DEPTH_CHECKED_ALONE: usize = 64;

thread_local! {
    /// Set when a [`Raw`] value nested deeper than [`RAW_DEPTH_CHECKED_ALONE`] since the last
    /// [`take_deep`] on this thread.
    static DEEP_RAW: Cell<bool> = const { Cell::new(false) };
}

/// Whether a [`Raw`] value nested deep since the last call on this thread; clears the mark.
pub(super) fn take_deep() -> bool {
    DEEP_RAW.with(|deep| deep.replace(false))
}

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(deserializer)?;
        // Capturing checks only the syntax: read it once more as a tree would, minus the tree.
        let Ok(depth) = nesting(raw.get()) else {
            return Err(serde::de::Error::custom("a kept value is not valid JSON"));
        };
        if depth > RAW_DEPTH_CHECKED_ALONE {
            DEEP_RAW.with(|deep| deep.set(true));
        }
        Ok(Raw(Some(raw)))
    }
}

/// Reads a JSON text in full as a `Value` would (numbers in range, escapes that decode),
/// building nothing; returns how deep its arrays and objects nest.
fn nesting(text: &str) -> Result<usize, serde_json::Error> {
    let deepest = Cell::new(0);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    Nested {
        depth: 0,
        deepest: &deepest,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(deepest.get())
}

/// [`Skip`] that counts how deep it went.
#[derive(Clone, Copy)]
struct Nested<'c> {
    depth: usize,
    deepest: &'c Cell<usize>,
}

impl Nested<'_> {
    fn inner(self) -> Self {
        let depth = self.depth + 1;
        self.deepest.set(self.deepest.get().max(depth));
        Self { depth, ..self }
    }
}

impl<'de> DeserializeSeed<'de> for Nested<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Nested<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.inner();
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.inner();
        while map.next_key::<Skip>()?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::nesting;

    #[test]
    fn nesting_counts_containers_outside_strings_only() {
        assert_eq!(nesting(r#"{"a":[1,{"b":"[[[{{{"}]}"#).unwrap(), 3);
        assert_eq!(nesting(r#"{"a":[1,{"b":[]}]}"#).unwrap(), 4);
        assert_eq!(nesting(r#"["\"[[[[", "\\", [[]]]"#).unwrap(), 3);
        assert_eq!(nesting("5").unwrap(), 0);
        assert!(nesting("[1e999]").is_err());
        assert!(nesting(r#""\ud800""#).is_err());
    }
}
