//! [`Raw`]: a value kept as the client's text, checked as a tree would check it.

use std::cell::Cell;

use serde::de::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::json_check::{self, Refused};

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
        // Capturing checks only the syntax: check it once more as a tree would, minus the tree.
        match json_check::check(raw.get(), RAW_DEPTH_CHECKED_ALONE) {
            Ok(()) => {}
            Err(Refused::TooDeep) => DEEP_RAW.with(|deep| deep.set(true)),
            Err(Refused::Invalid) => {
                return Err(serde::de::Error::custom("a kept value is not valid JSON"));
            }
        }
        Ok(Raw(Some(raw)))
    }
}
