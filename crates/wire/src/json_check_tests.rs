#![allow(clippy::unwrap_used)]

use proptest::collection::vec;
use proptest::prelude::*;

use super::{Refused, SERDE_JSON_DEPTH, check};

/// What the checker must agree with.
fn tree_accepts(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok()
}

fn agrees(text: &str) {
    assert_eq!(
        check(text, SERDE_JSON_DEPTH).is_ok(),
        tree_accepts(text),
        "{text:?}"
    );
}

#[test]
fn accepts_and_refuses_what_a_tree_does() {
    let cases = [
        // Accepted.
        "null",
        "true",
        "false",
        "0",
        "-0",
        "1",
        "-12",
        "1.5",
        "1e5",
        "1E+5",
        "1e-999",
        "0.0e0",
        "18446744073709551616",
        "\"\"",
        r#""a\"b\\c\/d\b\f\n\r\t""#,
        r#""\u00e9\uD83D\uDE00""#,
        "[]",
        "{}",
        " [ 1 , 2 ] ",
        "\t{\"a\" : [ ] }\r\n",
        r#"{"a":1,"a":2}"#,
        "\"über ☃\"",
        r#"[{"x":[{"y":{}}]},[],"]"]"#,
        "\"\u{7f}\"",
        // Refused.
        "",
        " ",
        "nul",
        "nulll",
        "True",
        "tru e",
        "01",
        "-",
        "-a",
        "+1",
        ".5",
        "1.",
        "1.e5",
        "1e",
        "1e+",
        "--1",
        "0x1",
        "1e999",
        "-1e999",
        "1E400",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{a:1}",
        "{\"a\" 1}",
        "[",
        "]",
        "{",
        "}",
        "[}",
        "{]",
        "[1]]",
        "1 2",
        "\"abc",
        "\"a\\\"",
        r#""\x""#,
        r#""\u12""#,
        r#""\u12G4""#,
        r#""\ud800""#,
        r#""\udc00""#,
        r#""\ud800\u0041""#,
        r#""\ud800\\n""#,
        r#""\ud800x""#,
        r#""\ud800\ud800""#,
        "\"a\u{1}b\"",
        "\"tab\there\"",
        "\"nl\nhere\"",
        "[1e999]",
        r#"{"a":[1,{"b":1e400}]}"#,
        "nullx",
        "[null]x",
        "{}{}",
        "\u{feff}1",
    ];
    for case in cases {
        agrees(case);
    }
    let long_integer = format!("{}1", "9".repeat(320));
    agrees(&long_integer);
    agrees(&format!("[{long_integer}]"));
    agrees(&format!("1{}.5", "0".repeat(305)));
    agrees(&format!("{}e-400", "1".repeat(350)));
}

#[test]
fn nesting_is_refused_where_serde_json_refuses_it() {
    for depth in 100..140 {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        agrees(&arrays);
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        agrees(&objects);
        let mixed = format!(
            "{}{}",
            "[{\"k\":".repeat(depth / 2),
            "0}]".repeat(depth / 2)
        );
        agrees(&mixed);
    }
    assert!(tree_accepts(&format!(
        "{}{}",
        "[".repeat(127),
        "]".repeat(127)
    )));
    assert!(!tree_accepts(&format!(
        "{}{}",
        "[".repeat(128),
        "]".repeat(128)
    )));
}

#[test]
fn a_smaller_depth_says_too_deep_not_invalid() {
    let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
    assert_eq!(check(&deep, 64), Err(Refused::TooDeep));
    assert_eq!(check(&deep, 65), Ok(()));
    let shallow_but_bad = "[[1,]]";
    assert_eq!(check(shallow_but_bad, 64), Err(Refused::Invalid));
}

/// Pieces of JSON, right and wrong, that put together make documents near the edges.
fn piece() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => prop_oneof![
            Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"), Just(" "),
            Just("\n"), Just("\t"), Just("\r"),
        ],
        3 => prop_oneof![
            Just("\"a\""), Just("\"key\":"), Just("\"\""), Just("\"abcdefghijklmnop\""),
            Just("\"quote \\\" inside and a long run of text\""), Just("\"ü☃\""),
            Just(r#""\u00e9""#), Just(r#""\ud83d\ude00""#), Just(r#""\ud800""#),
            Just(r#""\udc00""#), Just(r#""\ud800\u0041""#), Just(r#""\x""#), Just("\"\u{1}\""),
            Just("\""), Just("\\"), Just("\\u"), Just("\u{7f}"),
        ],
        3 => prop_oneof![
            Just("0"), Just("-0"), Just("12"), Just("01"), Just("-"), Just("1."), Just("1.5"),
            Just(".5"), Just("1e5"), Just("1e"), Just("1e999"), Just("-1E+308"), Just("2e308"),
            Just("1e-999"), Just("true"), Just("false"), Just("null"), Just("nul"), Just("x"),
        ],
    ]
}

/// A well-formed document with whitespace and numbers of every kind.
fn document() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        "[a-z\\\\\"\\u{e9}\\u{2603} ]{0,24}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(|items| format!("[ {} ]", items.join(" ,"))),
            vec(("[a-z]{0,6}", inner), 0..6).prop_map(|fields| {
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\" :\n{v}"))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn pieces_put_together_are_judged_as_a_tree_judges_them(pieces in vec(piece(), 1..12)) {
        let text = pieces.concat();
        prop_assert_eq!(check(&text, SERDE_JSON_DEPTH).is_ok(), tree_accepts(&text), "{:?}", text);
    }

    #[test]
    fn documents_and_their_one_byte_damage_are_judged_as_a_tree_judges_them(
        text in document(),
        cut in any::<prop::sample::Index>(),
        insert in prop_oneof![Just(""), Just(","), Just("\""), Just("]"), Just("}"), Just("\\"), Just("e9")],
    ) {
        prop_assert!(check(&text, SERDE_JSON_DEPTH).is_ok(), "{:?}", text);
        prop_assert!(tree_accepts(&text));
        let at = cut.index(text.len() + 1);
        if text.is_char_boundary(at) {
            let damaged = format!("{}{insert}{}", &text[..at], &text[at..]);
            prop_assert_eq!(check(&damaged, SERDE_JSON_DEPTH).is_ok(), tree_accepts(&damaged), "{:?}", damaged);
            if let Some(next) = text[at..].chars().next() {
                let removed = format!("{}{}", &text[..at], &text[at + next.len_utf8()..]);
                prop_assert_eq!(check(&removed, SERDE_JSON_DEPTH).is_ok(), tree_accepts(&removed), "{:?}", removed);
            }
        }
    }
}
