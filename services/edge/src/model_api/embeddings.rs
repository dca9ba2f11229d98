//! `POST /v1/embeddings`: OpenAI's dialect in and out. `input` is a string or an array of
//! strings (token-id arrays are refused: see `keyroute_wire::embeddings`), `dimensions`
//! shortens vectors where the model can, `encoding_format` is `float` (the default) or
//! `base64` (little-endian `f32` bytes, what the openai SDKs ask for and decode), `user`
//! reaches providers that take one; errors in OpenAI's envelope, naming the parameter.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use keyroute_proto::contract;
use keyroute_wire::embeddings::{parse_request, render_response};

use crate::access::{CallFacts, CallNote};
use crate::model_api::dialect::Dialect;
use crate::model_api::pipeline::{Call, asked_for};
use crate::state::Edge;

/// Handles one embeddings call.
pub async fn embeddings(State(edge): State<Edge>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let call = match Call::start(Dialect::OpenAi, "embeddings", &headers) {
        Ok(call) => call,
        Err(response) => return response,
    };
    let bytes = match call.body(&edge, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let client = match parse_request(&bytes) {
        Ok(client) => client,
        Err(invalid) => return call.invalid(&invalid),
    };
    // Parsed again only if the first router could not be reached.
    let again = || parse_request(&bytes).ok().map(|client| client.request);
    let model = client.request.model.clone();
    let reply = call
        .route(
            &edge,
            client.request,
            &again,
            |mut router, request| async move { router.embed(request).await },
            started,
        )
        .await;
    let (metadata, answer, _) = match reply {
        Ok(reply) => reply.into_parts(),
        Err(response) => return asked_for(response, model),
    };
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        render_response(&answer, client.encoding),
    )
        .into_response();
    Dialect::OpenAi.served_headers(&metadata, response.headers_mut());
    if answer.usage_estimated {
        response.headers_mut().insert(
            contract::header::TOKEN_COUNT,
            HeaderValue::from_static("estimate"),
        );
    }
    edge.metrics
        .served(call.route, response.headers(), started.elapsed());
    let mut facts = CallFacts {
        model: Some(model),
        ..CallFacts::default()
    };
    facts.whole_answer(&metadata, answer.served_by.as_ref(), answer.usage.as_ref());
    CallNote::new(facts).attach(&mut response);
    response
}
