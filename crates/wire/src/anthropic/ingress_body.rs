//! A client's Messages API body as typed, borrowing fields (`crate::lenient`), so that the
//! ingress reads it without building a `Value` tree. Nothing here refuses a field of the
//! wrong type: the ingress names each fault itself, in the order the tree reader did, once
//! the whole body has parsed. Where a part must stay whole (tools, which may go to Anthropic
//! unchanged; tool inputs and image sources) it is kept as a tree; fields keyroute does not
//! model are kept whole too, for an Anthropic upstream.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::lenient::{Fields, Flag, Float, List, Obj, Raw, Seen, Skip, Text, Tree, Uint, lenient};

lenient! {
    /// One content block (of a message, a system prompt or a tool result). `content` is a
    /// tool result's, or a `mid_conv_system` block's: `None` when absent or null.
    struct BlockIn<'a> {
        kind = "type": Text<'a>,
        text: Seen<Text<'a>>,
        signature: Text<'a>,
        source: Seen<Tree>,
        id: Text<'a>,
        name: Text<'a>,
        input: Raw<'a>,
        tool_use_id: Seen<Text<'a>>,
        content: Option<Box<Blocks<'a>>>,
        is_error: Flag,
        thinking: Text<'a>,
        data: Text<'a>,
        cache_control: Obj<CacheControl<'a>>,
    }

    /// `cache_control`.
    struct CacheControl<'a> {
        ttl: Text<'a>,
    }

    /// One of `messages`.
    struct MessageIn<'a> {
        role: Text<'a>,
        content: Seen<Blocks<'a>>,
        clear_at: Text<'a>,
    }

    /// `metadata`.
    struct Metadata<'a> {
        user_id: Text<'a>,
    }

    /// `thinking`.
    struct Thinking<'a> {
        kind = "type": Text<'a>,
        budget_tokens: Uint,
        display: Text<'a>,
    }

    /// `output_config`.
    struct OutputConfig<'a> {
        effort: Text<'a>,
        format: Obj<Format<'a>>,
    }

    /// `output_config.format`.
    struct Format<'a> {
        kind = "type": Text<'a>,
        schema: Tree,
    }
}

/// One of `tools`, each field kept as its text: a function tool's schema goes on as it
/// came, and a server tool (any other `type`) goes to an Anthropic upstream whole.
#[derive(Debug, Default, Clone)]
pub(crate) struct ToolIn<'a> {
    pub kind: Raw<'a>,
    pub name: Raw<'a>,
    pub description: Raw<'a>,
    pub input_schema: Raw<'a>,
    pub strict: Raw<'a>,
    pub cache_control: Raw<'a>,
    /// The other fields, in order (a server tool's own settings).
    pub rest: Vec<(String, Raw<'a>)>,
}

impl<'de: 'a, 'a> Fields<'de> for ToolIn<'a> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let slot = match key {
            "type" => &mut self.kind,
            "name" => &mut self.name,
            "description" => &mut self.description,
            "input_schema" => &mut self.input_schema,
            "strict" => &mut self.strict,
            "cache_control" => &mut self.cache_control,
            other => {
                self.rest.push((other.to_owned(), map.next_value()?));
                return Ok(());
            }
        };
        *slot = map.next_value()?;
        Ok(())
    }
}

impl ToolIn<'_> {
    /// The whole tool as a tree, as the client sent it (a repeated key keeps its last value).
    pub fn to_value(&self) -> Value {
        let mut object = Map::new();
        let known = [
            ("type", &self.kind),
            ("name", &self.name),
            ("description", &self.description),
            ("input_schema", &self.input_schema),
            ("strict", &self.strict),
            ("cache_control", &self.cache_control),
        ];
        let rest = self.rest.iter().map(|(key, raw)| (key.as_str(), raw));
        for (key, raw) in known.into_iter().chain(rest) {
            if let Some(value) = raw.to_value() {
                object.insert(key.to_owned(), value);
            }
        }
        Value::Object(object)
    }
}

/// Content: a string, a list of blocks, or (`Other`) any other JSON type, a fault the
/// ingress names.
#[derive(Debug, Default, Clone)]
pub(crate) enum Blocks<'a> {
    #[default]
    Other,
    Text(Cow<'a, str>),
    List(Vec<Obj<BlockIn<'a>>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Blocks<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Blocks<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Blocks<'a>, E> {
                Ok(Blocks::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Blocks<'a>, E> {
                Ok(Blocks::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Blocks<'a>, E> {
                Ok(Blocks::Text(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Blocks<'a>, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(block) = seq.next_element()? {
                    blocks.push(block);
                }
                Ok(Blocks::List(blocks))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Blocks<'a>, A::Error> {
                while map.next_entry::<Skip, Skip>()?.is_some() {}
                Ok(Blocks::Other)
            }
            fn visit_unit<E>(self) -> Result<Blocks<'a>, E> {
                Ok(Blocks::Other)
            }
            fn visit_none<E>(self) -> Result<Blocks<'a>, E> {
                Ok(Blocks::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Blocks<'a>, E> {
                Ok(Blocks::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Blocks<'a>, E> {
                Ok(Blocks::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Blocks<'a>, E> {
                Ok(Blocks::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Blocks<'a>, E> {
                Ok(Blocks::Other)
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// The whole body. `max_tokens` tells a missing field from one of the wrong type; `system`
/// and `tool_choice` are `None` when absent or null.
#[derive(Debug, Default, Clone)]
pub(crate) struct ChatBody<'a> {
    pub model: Text<'a>,
    pub max_tokens: Seen<Uint>,
    pub messages: List<Obj<MessageIn<'a>>>,
    pub system: Option<Blocks<'a>>,
    /// Server tools go to Anthropic unchanged.
    pub tools: List<Obj<ToolIn<'a>>>,
    pub tool_choice: Option<Tree>,
    pub temperature: Option<Float>,
    pub top_p: Option<Float>,
    pub top_k: Uint,
    pub stop_sequences: Option<Tree>,
    pub stream: Flag,
    pub metadata: Obj<Metadata<'a>>,
    pub thinking: Obj<Thinking<'a>>,
    pub output_config: Obj<OutputConfig<'a>>,
    /// Every other field, whole, in key order: options for an Anthropic upstream.
    pub extras: Map<String, Value>,
}

impl<'de: 'a, 'a> Fields<'de> for ChatBody<'a> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "model" => self.model = map.next_value()?,
            "max_tokens" => self.max_tokens = map.next_value()?,
            "messages" => self.messages = map.next_value()?,
            "system" => self.system = map.next_value()?,
            "tools" => self.tools = map.next_value()?,
            "tool_choice" => self.tool_choice = map.next_value()?,
            "temperature" => self.temperature = map.next_value()?,
            "top_p" => self.top_p = map.next_value()?,
            "top_k" => self.top_k = map.next_value()?,
            "stop_sequences" => self.stop_sequences = map.next_value()?,
            "stream" => self.stream = map.next_value()?,
            "metadata" => self.metadata = map.next_value()?,
            "thinking" => self.thinking = map.next_value()?,
            "output_config" => self.output_config = map.next_value()?,
            other => {
                self.extras.insert(other.to_owned(), map.next_value()?);
            }
        }
        Ok(())
    }
}
