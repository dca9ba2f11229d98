//! A provider request as plain data: the router adds the base URL and credentials and sends
//! it; nothing here does I/O.

/// One upstream HTTP request, relative to the provider's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    /// Path and query, appended to the base URL (`/chat/completions`).
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn post_json(path: String, body: &serde_json::Value) -> Self {
        Self {
            method: "POST",
            path,
            headers: vec![("content-type", "application/json".to_owned())],
            // Straight into bytes: `to_string` goes through `fmt::Write` a piece at a time
            // (the same compact text, several times slower). A `Value` always serializes.
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }

    /// A JSON body written without a `Value` tree (see `json_out`).
    pub fn post_json_bytes(path: String, body: Vec<u8>) -> Self {
        Self {
            method: "POST",
            path,
            headers: vec![("content-type", "application/json".to_owned())],
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
