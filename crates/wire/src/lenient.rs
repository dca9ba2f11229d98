//! Typed, borrowing readers for provider JSON on the hot paths (answers and stream chunks),
//! with exactly the leniency of reading a `serde_json::Value` tree through `json::str_of`
//! and friends, but without building the tree: no map nodes, no owned keys, strings borrowed
//! from the input unless they hold escapes.
//!
//! The rules, which the `Value` readers they replace followed:
//!
//! - a field of the wrong type reads as absent ([`Text`], [`Uint`], [`Int`], [`Flag`]), an
//!   object that is not one reads as empty ([`Obj`]), and a list that is not one as missing
//!   ([`List`]);
//! - unknown fields are skipped, and a repeated field keeps its last value;
//! - every value is still parsed in full ([`Skip`] reads what nobody asked for with
//!   `deserialize_any`, as `Value` does): a document a `Value` would refuse (bad UTF-8 or an
//!   out-of-range number in a field nobody reads) is refused here too, with the same error.
//!
//! Structs are declared with [`lenient!`], which writes the field-by-field map reader. Where
//! a part must stay a tree, a [`Tree`] field keeps it; where it goes on as the client wrote it
//! (tool schemas and inputs), a [`Raw`] field keeps its text.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

mod raw;
pub(crate) use raw::Raw;

/// Any JSON value, parsed and dropped. Not `serde::de::IgnoredAny`, which does not check what
/// it skips (UTF-8, number range) and so would let through documents a `Value` refuses.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Skipper)
    }
}

struct Skipper;

impl<'de> Visitor<'de> for Skipper {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_none<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Skip, D::Error> {
        Skip::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

/// Declares the visitor methods for every JSON type but strings and numbers as "not what was
/// asked for": the value is parsed (containers in full) and read as `$none`.
macro_rules! other_types_are {
    ($none:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Skipper.visit_seq(seq)?;
            Ok($none)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Skipper.visit_map(map)?;
            Ok($none)
        }
    };
}

/// A string field; anything else, or nothing, reads as empty (`json::str_of`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub Option<Cow<'a, str>>);

impl Text<'_> {
    /// The string, or empty.
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or_default()
    }

    /// The string if the field is one (`Value::as_str`).
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Text<'a>, E> {
                Ok(Text(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Text<'a>, E> {
                Ok(Text(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Text<'a>, E> {
                Ok(Text(None))
            }
            other_types_are!(Text(None));
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// A count: a non-negative integer, or absent (`Value::as_u64`; floats are not counts).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Uint(pub Option<u64>);

impl Uint {
    /// The count, or 0 (`json::u64_of`).
    pub fn value(self) -> u64 {
        self.0.unwrap_or_default()
    }
}

impl<'de> Deserialize<'de> for Uint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Uint;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Uint, E> {
                Ok(Uint(u64::try_from(v).ok()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Uint, E> {
                Ok(Uint(Some(v)))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Uint, E> {
                Ok(Uint(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Uint, E> {
                Ok(Uint(None))
            }
            other_types_are!(Uint(None));
        }
        deserializer.deserialize_any(V)
    }
}

/// A signed integer, or absent (`Value::as_i64`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Int(pub Option<i64>);

impl Int {
    /// The number, or 0.
    pub fn value(self) -> i64 {
        self.0.unwrap_or_default()
    }
}

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Int, E> {
                Ok(Int(Some(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Int, E> {
                Ok(Int(i64::try_from(v).ok()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Int, E> {
                Ok(Int(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Int, E> {
                Ok(Int(None))
            }
            other_types_are!(Int(None));
        }
        deserializer.deserialize_any(V)
    }
}

/// A number, or absent (`Value::as_f64`: integers read as numbers too).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Float(pub Option<f64>);

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Float;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            #[allow(clippy::cast_precision_loss)] // As `Value::as_f64` converts.
            fn visit_i64<E>(self, v: i64) -> Result<Float, E> {
                Ok(Float(Some(v as f64)))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E>(self, v: u64) -> Result<Float, E> {
                Ok(Float(Some(v as f64)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Float, E> {
                Ok(Float(Some(v)))
            }
            fn visit_str<E>(self, _: &str) -> Result<Float, E> {
                Ok(Float(None))
            }
            other_types_are!(Float(None));
        }
        deserializer.deserialize_any(V)
    }
}

/// A boolean, or absent (`Value::as_bool`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flag(pub Option<bool>);

impl Flag {
    /// Whether the field is `true`.
    pub fn is_true(self) -> bool {
        self.0 == Some(true)
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(Some(v)))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Flag, E> {
                Ok(Flag(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Flag, E> {
                Ok(Flag(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Flag, E> {
                Ok(Flag(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Flag, E> {
                Ok(Flag(None))
            }
            fn visit_unit<E>(self) -> Result<Flag, E> {
                Ok(Flag(None))
            }
            fn visit_none<E>(self) -> Result<Flag, E> {
                Ok(Flag(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Flag, A::Error> {
                Skipper.visit_seq(seq)?;
                Ok(Flag(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Flag, A::Error> {
                Skipper.visit_map(map)?;
                Ok(Flag(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// What a field held, for an [`Obj`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    #[default]
    Absent,
    /// Present, but not an object (null included).
    Other,
    Object,
}

/// A struct read field by field from a JSON object; written by [`lenient!`].
pub(crate) trait Fields<'de>: Default {
    /// Reads the value of `key` (skipping it if unknown).
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

/// An object field read as `T`; any other value reads as an empty `T` (`Value::get` on a
/// non-object finds nothing), and [`Obj::shape`] tells which it was.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Obj<T> {
    pub shape: Shape,
    pub value: T,
}

impl<T> Obj<T> {
    /// Whether the field was there at all, whatever its type.
    pub fn is_present(&self) -> bool {
        self.shape != Shape::Absent
    }

    /// The object, if the field is one (`Value::get(..).filter(Value::is_object)`).
    pub fn object(&self) -> Option<&T> {
        (self.shape == Shape::Object).then_some(&self.value)
    }

    /// The object, owned, if the field is one.
    pub fn into_object(self) -> Option<T> {
        (self.shape == Shape::Object).then_some(self.value)
    }
}

impl<T> std::ops::Deref for Obj<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Fields<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Fields<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Obj<T>, A::Error> {
                let mut value = T::default();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    value.field(&key.0, &mut map)?;
                }
                Ok(Obj {
                    shape: Shape::Object,
                    value,
                })
            }
            fn visit_bool<E>(self, _: bool) -> Result<Obj<T>, E> {
                Ok(other())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Obj<T>, E> {
                Ok(other())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Obj<T>, E> {
                Ok(other())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Obj<T>, E> {
                Ok(other())
            }
            fn visit_str<E>(self, _: &str) -> Result<Obj<T>, E> {
                Ok(other())
            }
            fn visit_unit<E>(self) -> Result<Obj<T>, E> {
                Ok(other())
            }
            fn visit_none<E>(self) -> Result<Obj<T>, E> {
                Ok(other())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Obj<T>, A::Error> {
                Skipper.visit_seq(seq)?;
                Ok(other())
            }
        }
        fn other<T: Default>() -> Obj<T> {
            Obj {
                shape: Shape::Other,
                value: T::default(),
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// An array field; anything else reads as no list (`Value::as_array`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct List<T>(pub Option<Vec<T>>);

impl<T> Default for List<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T> List<T> {
    /// The elements, or none.
    pub fn items(&self) -> &[T] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(List(Some(items)))
            }
            fn visit_i64<E>(self, _: i64) -> Result<List<T>, E> {
                Ok(List(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<List<T>, E> {
                Ok(List(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<List<T>, E> {
                Ok(List(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<List<T>, E> {
                Ok(List(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<List<T>, E> {
                Ok(List(None))
            }
            fn visit_unit<E>(self) -> Result<List<T>, E> {
                Ok(List(None))
            }
            fn visit_none<E>(self) -> Result<List<T>, E> {
                Ok(List(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<List<T>, A::Error> {
                Skipper.visit_map(map)?;
                Ok(List(None))
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// A field read as `T` that also tells whether it was there at all (null included), where
/// a missing field and one of the wrong type are different faults.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Seen<T> {
    pub present: bool,
    pub value: T,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Seen<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(|value| Seen {
            present: true,
            value,
        })
    }
}

/// A whole JSON value kept as a tree, where the exact value matters (tool arguments
/// re-serialized the way `Value` writes them); `None` when the field is absent.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Tree(pub Option<serde_json::Value>);

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(|value| Tree(Some(value)))
    }
}

/// An object key: borrowed unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V(PhantomData))
    }
}

/// Skips the value of a field nobody reads (parsed in full, like `Value` would).
pub(crate) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<Skip>().map(drop)
}

/// Declares structs read leniently from JSON objects: each field has a lenient type
/// ([`Text`], [`Uint`], [`Int`], [`Flag`], [`Obj`], [`List`], [`Tree`], [`Raw`], or an
/// `Option` of one, which is `None` for null) and the key it is read from (its name, or the
/// string after `=`). Unknown keys are skipped; a repeated key keeps its last value.
macro_rules! lenient {
    ($(
        $(#[$meta:meta])*
        struct $name:ident $(<$lt:lifetime>)? {
            $($field:ident $(= $key:literal)? : $ty:ty),* $(,)?
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Default, Clone)]
        pub(crate) struct $name $(<$lt>)? {
            $(pub $field: $ty,)*
        }

        impl<'de $(: $lt, $lt)?> $crate::lenient::Fields<'de> for $name $(<$lt>)? {
            fn field<A: serde::de::MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> Result<(), A::Error> {
                $(
                    if key == $crate::lenient::lenient!(@key $field $($key)?) {
                        self.$field = map.next_value()?;
                        return Ok(());
                    }
                )*
                $crate::lenient::skip(map)
            }
        }
    )*};
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $key:literal) => { $key };
}
pub(crate) use lenient;

/// Parses a whole document as an object of `T` (any other JSON value reads as an empty one).
///
/// When it fails, or a [`Raw`] field nested deep, the document is read once more as a tree
/// would read it, minus the tree ([`Skip`]): its error is the one a `Value` gives, at the same
/// line and column, whatever a typed or raw field noticed first.
pub(crate) fn parse<'a, T: Fields<'a>>(bytes: &'a [u8]) -> Result<Obj<T>, serde_json::Error> {
    raw::take_deep();
    let parsed = serde_json::from_slice::<Obj<T>>(bytes);
    let deep = raw::take_deep();
    match parsed {
        Ok(object) if !deep => Ok(object),
        Ok(object) => serde_json::from_slice::<Skip>(bytes).map(|_| object),
        Err(error) => Err(serde_json::from_slice::<Skip>(bytes).err().unwrap_or(error)),
    }
}

#[cfg(test)]
#[path = "lenient_tests.rs"]
mod tests;
