//! The lenient readers read what `Value` and `json::str_of`/`u64_of` read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

use super::{Int, List, Obj, Shape, Text, Uint, parse};
use crate::json::{str_of, u64_of};

lenient! {
    struct Probe<'a> {
        text: Text<'a>,
        count: Uint,
        signed: Int,
        inner: Obj<Inner>,
        list: List<Uint>,
        kind = "type": Text<'a>,
    }

    struct Inner {
        count: Uint,
    }
}

fn probe(json: &str) -> Obj<Probe<'_>> {
    parse(json.as_bytes()).unwrap()
}

#[test]
fn fields_read_as_value_reads_them() {
    for json in [
        r#"{"text":"a","count":3,"signed":-4,"inner":{"count":5},"list":[1,2],"type":"t"}"#,
        r#"{"text":1,"count":"3","signed":1.5,"inner":[],"list":{},"type":null}"#,
        r#"{"text":"a\nb","count":-1,"signed":18446744073709551615,"inner":null,"list":"x"}"#,
        r#"{"count":1.0,"signed":9223372036854775807,"inner":{"count":true,"other":[{}]}}"#,
        r#"{"text":"first","text":"last","count":1,"count":null}"#,
        r#"{"\u0074ext":"escaped key"}"#,
        "[]",
        "7",
    ] {
        let value: Value = serde_json::from_str(json).unwrap();
        let read = probe(json);
        assert_eq!(read.text.as_str(), str_of(&value, "text"), "{json}");
        assert_eq!(read.kind.as_str(), str_of(&value, "type"));
        assert_eq!(read.count.value(), u64_of(&value, "count"), "{json}");
        assert_eq!(read.signed.0, value.get("signed").and_then(Value::as_i64));
        assert_eq!(
            read.inner.count.0,
            value.pointer("/inner/count").and_then(Value::as_u64)
        );
        assert_eq!(read.inner.is_present(), value.get("inner").is_some());
        assert_eq!(
            read.inner.object().is_some(),
            value.get("inner").is_some_and(Value::is_object)
        );
        assert_eq!(
            read.list.0.is_some(),
            value.get("list").is_some_and(Value::is_array)
        );
        assert_eq!(read.shape == Shape::Object, value.is_object());
    }
}

#[test]
fn strings_are_borrowed_unless_escaped() {
    let read = probe(r#"{"text":"plain","type":"t\"q"}"#);
    assert!(matches!(
        read.text.0,
        Some(std::borrow::Cow::Borrowed("plain"))
    ));
    assert!(matches!(read.kind.0, Some(std::borrow::Cow::Owned(_))));
    assert_eq!(read.kind.as_str(), "t\"q");
}

#[test]
fn what_value_refuses_is_refused() {
    for json in [
        r#"{"unknown":1e999}"#,
        r#"{"unknown":"\uD800"}"#,
        r#"{"text":"a""#,
        r#"{"text":"a"} trailing"#,
    ] {
        let value = serde_json::from_str::<Value>(json).unwrap_err();
        let typed = parse::<Probe<'_>>(json.as_bytes()).unwrap_err();
        assert_eq!(typed.to_string(), value.to_string(), "{json}");
    }
    let bytes = b"{\"unknown\":\"\xff\"}";
    assert_eq!(
        parse::<Probe<'_>>(bytes).unwrap_err().to_string(),
        serde_json::from_slice::<Value>(bytes)
            .unwrap_err()
            .to_string()
    );
}
