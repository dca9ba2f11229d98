//! Building responses: JSON bodies, and streamed bodies that honour chunk delays and reset
//! the connection mid-stream when a fault says so.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use crate::fault::Fault;

pub fn json(status: u16, body: Vec<u8>) -> Response {
    bytes(status, "application/json", body)
}

pub fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}

pub fn with_header(mut response: Response, name: &'static str, value: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// A streamed body of `chunks`, each sent after the fault's chunk delay; after
/// `reset_after_chunks` chunks the body fails, which aborts the connection mid-stream.
pub fn stream(content_type: &'static str, chunks: Vec<Vec<u8>>, fault: &Fault) -> Response {
    let delay = fault.chunk_delay;
    let reset_after = fault.reset_after_chunks;
    let state = (
        chunks
            .into_iter()
            .map(Bytes::from)
            .collect::<Vec<_>>()
            .into_iter(),
        0usize,
        false,
    );
    let body = futures::stream::unfold(state, move |(mut chunks, sent, failed)| async move {
        if failed {
            return None;
        }
        // The delay comes first, so that what was sent before a reset reaches the client.
        if sent > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if reset_after.is_some_and(|limit| sent >= limit) {
            let reset = std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "mock fault: connection reset mid-stream",
            );
            return Some((Err(reset), (chunks, sent, true)));
        }
        let chunk = chunks.next()?;
        Some((Ok::<_, std::io::Error>(chunk), (chunks, sent + 1, false)))
    });
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    response
}
