//! A client's Chat Completions body as typed, borrowing fields (`crate::lenient`), so that
//! the ingress reads it without building a `Value` tree: no map nodes, no owned keys, each
//! string copied once, into the canonical request. Nothing here refuses a field of the wrong
//! type: the ingress names each fault itself, in the order the tree reader did, once the whole
//! body has parsed (so a body that is not JSON is still refused as that first). Fields keyroute
//! does not model are kept whole, to pass through as provider options.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::lenient::{
    Fields, Flag, Float, Int, List, Obj, Raw, Seen, Skip, Text, Tree, Uint, lenient,
};

lenient! {
    /// One of `messages`.
    struct MessageIn<'a> {
        role: Text<'a>,
        content: Content<'a>,
        tool_call_id: Text<'a>,
        reasoning_content: Text<'a>,
        tool_calls: List<Obj<ToolCallIn<'a>>>,
        name: Text<'a>,
    }

    /// One of an assistant message's `tool_calls`.
    struct ToolCallIn<'a> {
        id: Text<'a>,
        function: Obj<CalledFunction<'a>>,
    }

    /// A tool call's `function`: `arguments` is `None` when absent or null.
    struct CalledFunction<'a> {
        name: Text<'a>,
        arguments: Option<Tree>,
    }

    /// One of `tools`.
    struct ToolIn<'a> {
        function: Obj<FunctionIn<'a>>,
    }

    /// A tool's `function`: `parameters` kept as the client wrote it.
    struct FunctionIn<'a> {
        name: Text<'a>,
        description: Text<'a>,
        parameters: Raw<'a>,
        strict: Flag,
    }

    /// `stream_options`.
    struct StreamOptions {
        include_usage: Flag,
    }
}

/// A message's `content`: absent and null read alike.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum Content<'a> {
    #[default]
    Null,
    Text(Cow<'a, str>),
    /// Content parts, kept as trees: rare on the hot path, and read by `read_part`.
    Parts(Vec<Value>),
    /// Any other JSON type: a fault the ingress names.
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Content<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Content<'a>, E> {
                Ok(Content::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Content<'a>, E> {
                Ok(Content::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Content<'a>, E> {
                Ok(Content::Text(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Content<'a>, E> {
                Ok(Content::Null)
            }
            fn visit_none<E>(self) -> Result<Content<'a>, E> {
                Ok(Content::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content<'a>, A::Error> {
                let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(part) = seq.next_element()? {
                    parts.push(part);
                }
                Ok(Content::Parts(parts))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Content<'a>, A::Error> {
                while map.next_entry::<Skip, Skip>()?.is_some() {}
                Ok(Content::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Content<'a>, E> {
                Ok(Content::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Content<'a>, E> {
                Ok(Content::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Content<'a>, E> {
                Ok(Content::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Content<'a>, E> {
                Ok(Content::Other)
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// The whole body. A number, flag or integer field is `None` when absent or null, and holds
/// an empty reader when of the wrong type.
#[derive(Debug, Default, Clone)]
pub(crate) struct ChatBody<'a> {
    pub model: Text<'a>,
    /// `present` tells a missing list from one of the wrong type.
    pub messages: Seen<List<Obj<MessageIn<'a>>>>,
    pub tools: List<Obj<ToolIn<'a>>>,
    pub tool_choice: Option<Tree>,
    pub parallel_tool_calls: Option<Flag>,
    pub response_format: Option<Tree>,
    pub temperature: Option<Float>,
    pub top_p: Option<Float>,
    pub max_tokens: Option<Uint>,
    pub max_completion_tokens: Option<Uint>,
    pub stop: Option<Tree>,
    pub seed: Option<Int>,
    pub presence_penalty: Option<Float>,
    pub frequency_penalty: Option<Float>,
    pub n: Option<Uint>,
    pub user: Text<'a>,
    pub reasoning_effort: Text<'a>,
    pub stream: Option<Flag>,
    pub stream_options: Obj<StreamOptions>,
    /// Every other field, whole, in key order: the provider options.
    pub extras: Map<String, Value>,
}

impl<'de: 'a, 'a> Fields<'de> for ChatBody<'a> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "model" => self.model = map.next_value()?,
            "messages" => self.messages = map.next_value()?,
            "tools" => self.tools = map.next_value()?,
            "tool_choice" => self.tool_choice = map.next_value()?,
            "parallel_tool_calls" => self.parallel_tool_calls = map.next_value()?,
            "response_format" => self.response_format = map.next_value()?,
            "temperature" => self.temperature = map.next_value()?,
            "top_p" => self.top_p = map.next_value()?,
            "max_tokens" => self.max_tokens = map.next_value()?,
            "max_completion_tokens" => self.max_completion_tokens = map.next_value()?,
            "stop" => self.stop = map.next_value()?,
            "seed" => self.seed = map.next_value()?,
            "presence_penalty" => self.presence_penalty = map.next_value()?,
            "frequency_penalty" => self.frequency_penalty = map.next_value()?,
            "n" => self.n = map.next_value()?,
            "user" => self.user = map.next_value()?,
            "reasoning_effort" => self.reasoning_effort = map.next_value()?,
            "stream" => self.stream = map.next_value()?,
            "stream_options" => self.stream_options = map.next_value()?,
            other => {
                self.extras.insert(other.to_owned(), map.next_value()?);
            }
        }
        Ok(())
    }
}
