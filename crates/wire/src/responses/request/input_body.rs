//! A client's Responses body as typed, borrowing fields (`crate::lenient`): `input`, the bulk
//! of a coding agent's turn (every message, call and output of the session so far), and
//! `tools` (kept as the client's text, each tool then read typed from it) are read without
//! building a `Value` tree; the other fields, small, stay trees for the reader that names
//! their faults. Nothing here refuses a field of the wrong type: the ingress names each
//! fault itself, in the order the tree reader did, once the whole body has parsed.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::lenient::{Fields, Flag, List, Obj, Raw, Seen, Skip, Text, lenient};

/// A field that should hold a string: absent and null read alike, and any other value is
/// kept whole (rarely: a fault to name, or tool arguments sent as an object).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum Loose<'a> {
    #[default]
    Null,
    Text(Cow<'a, str>),
    Other(Value),
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Loose<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Loose<'a>, E> {
                Ok(Loose::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Loose<'a>, E> {
                Ok(Loose::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Loose<'a>, E> {
                Ok(Loose::Text(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Loose<'a>, E> {
                Ok(Loose::Null)
            }
            fn visit_none<E>(self) -> Result<Loose<'a>, E> {
                Ok(Loose::Null)
            }
            // As `Value` reads them.
            fn visit_bool<E>(self, v: bool) -> Result<Loose<'a>, E> {
                Ok(Loose::Other(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Loose<'a>, E> {
                Ok(Loose::Other(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Loose<'a>, E> {
                Ok(Loose::Other(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Loose<'a>, E> {
                Ok(Loose::Other(
                    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
                ))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Loose<'a>, A::Error> {
                Value::deserialize(SeqAccessDeserializer::new(seq)).map(Loose::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Loose<'a>, A::Error> {
                Value::deserialize(MapAccessDeserializer::new(map)).map(Loose::Other)
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// A field that holds a string or an array of `T` (a message's `content`, an output's
/// `output`, a reasoning item's `summary`): absent and null read alike.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum TextOr<'a, T> {
    #[default]
    Null,
    Text(Cow<'a, str>),
    List(Vec<T>),
    /// Any other JSON type: a fault the ingress names.
    Other,
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for TextOr<'a, T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a, T>(PhantomData<(&'a (), T)>);
        impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for V<'a, T> {
            type Value = TextOr<'a, T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TextOr::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TextOr::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(TextOr::Text(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(TextOr::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(TextOr::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(64));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(TextOr::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<Skip, Skip>()?.is_some() {}
                Ok(TextOr::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TextOr::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(TextOr::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(TextOr::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(TextOr::Other)
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

lenient! {
    /// One of `input`'s items: a message, a function call, its output or a reasoning item
    /// (and the other types, which are refused or skipped by `type` alone).
    struct ItemIn<'a> {
        kind = "type": Loose<'a>,
        // `present` tells a message without a `type` (null included).
        role: Seen<Text<'a>>,
        // `present` tells an item reference without a `type`.
        id: Seen<Text<'a>>,
        content: TextOr<'a, Obj<PartIn<'a>>>,
        call_id: Loose<'a>,
        name: Loose<'a>,
        namespace: Text<'a>,
        arguments: Loose<'a>,
        output: TextOr<'a, Obj<PartIn<'a>>>,
        summary: TextOr<'a, Obj<PartIn<'a>>>,
        encrypted_content: Loose<'a>,
    }

    /// One of `tools`, or of a namespace's `tools`: its schema kept as the client wrote it.
    struct ToolIn<'a> {
        kind = "type": Text<'a>,
        name: Text<'a>,
        description: Text<'a>,
        parameters: Raw<'a>,
        strict: Option<Flag>,
        tools: List<Obj<ToolIn<'a>>>,
    }

    /// One content part of a message or an output (or of a reasoning item's summary or
    /// content, whose text alone is read).
    struct PartIn<'a> {
        kind = "type": Text<'a>,
        text: Loose<'a>,
        refusal: Loose<'a>,
        image_url: Loose<'a>,
        detail: Text<'a>,
        file_id: Loose<'a>,
        prompt_cache_breakpoint: Obj<Nothing>,
    }
}

/// An object whose fields nobody reads.
#[derive(Debug, Default, Clone)]
pub(crate) struct Nothing;

impl<'de> Fields<'de> for Nothing {
    fn field<A: MapAccess<'de>>(&mut self, _: &str, map: &mut A) -> Result<(), A::Error> {
        crate::lenient::skip(map)
    }
}

/// `input`: a string (one user message) or an array of items.
pub(crate) type Input<'a> = TextOr<'a, Obj<ItemIn<'a>>>;

/// The whole body: `input` typed, `tools` as the client wrote them (its schemas go on as
/// written), every other field whole, for the tree reader.
#[derive(Debug, Default, Clone)]
pub(crate) struct ResponsesBody<'a> {
    pub input: Input<'a>,
    pub tools: Raw<'a>,
    pub rest: Map<String, Value>,
}

impl<'de: 'a, 'a> Fields<'de> for ResponsesBody<'a> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        if key == "input" {
            self.input = map.next_value()?;
        } else if key == "tools" {
            self.tools = map.next_value()?;
        } else {
            self.rest.insert(key.to_owned(), map.next_value()?);
        }
        Ok(())
    }
}
