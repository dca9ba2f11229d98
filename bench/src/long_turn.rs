//! A long coding-agent turn, the request size that matters for the agents keyroute serves:
//! shared by the request-translation benchmark (`keyroute-wire`'s `requests`) and
//! `keyroute-load --body long-turn` (`bench/run`'s long-turn row).

/// A Chat Completions body the size Claude Code and Codex send mid-session (~105 KB): a
/// 12 KB system prompt, 16 tools with described parameters, and 30 rounds of user text, an
/// assistant tool call and a tool result of 1.5 KB.
pub fn long_turn() -> String {
    let words = |n: usize, seed: usize| -> String {
        const WORDS: [&str; 12] = [
            "read",
            "the",
            "file",
            "before",
            "editing",
            "it",
            "and",
            "keep",
            "tests",
            "green",
            "über",
            "\"quoted\"",
        ];
        (0..n)
            .map(|i| WORDS[(i * 7 + seed) % WORDS.len()])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let tools: Vec<serde_json::Value> = (0..16)
        .map(|t| {
            let properties: serde_json::Map<String, serde_json::Value> = (0..5)
                .map(|p| {
                    (
                        format!("param_{p}"),
                        serde_json::json!({
                            "type": "string",
                            "description": words(20, t + p),
                            "enum": ["a", "b", "c"],
                        }),
                    )
                })
                .collect();
            serde_json::json!({"type": "function", "function": {
                "name": format!("tool_{t}"),
                "description": words(100, t),
                "parameters": {"type": "object", "properties": properties,
                               "required": ["param_0", "param_1"], "additionalProperties": false},
            }})
        })
        .collect();
    let mut messages = vec![serde_json::json!({"role": "system", "content": words(2000, 0)})];
    for round in 0..30 {
        let id = format!("call_{round}");
        messages.push(serde_json::json!({"role": "user", "content": words(50, round)}));
        messages.push(serde_json::json!({"role": "assistant", "content": words(30, round),
            "tool_calls": [{"id": id, "type": "function", "function": {"name": "tool_3",
                "arguments": serde_json::json!({"param_0": words(10, round), "param_1": "b"}).to_string()}}]}));
        messages.push(
            serde_json::json!({"role": "tool", "tool_call_id": id, "content": words(250, round)}),
        );
    }
    serde_json::json!({"model": "gpt-4o-mini", "stream": true, "messages": messages,
                       "tools": tools, "max_completion_tokens": 8192})
    .to_string()
}
