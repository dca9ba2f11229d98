//! What every model route does the same way whatever its dialect: find the gateway token,
//! read a bounded body, call the router with the caller's token and request id, and turn the
//! answer (one response or a stream of events) into HTTP, counting it in the metrics.

// A refusal here is the finished HTTP response in the caller's dialect: returned once, on
// the error path, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use keyroute_proto::contract;
use keyroute_proto::router::v1::{CompleteRequest, CompleteStreamRequest};
use keyroute_wire::canonical::pb::complete_stream_response::Event;
use keyroute_wire::canonical::{StreamRenderer, pb};
use tonic::metadata::AsciiMetadataValue;

use crate::access::{CallFacts, CallNote, origin};
use crate::auth::gateway_token;
use crate::auth_failures::{TokenHash, token_hash};
use crate::model_api::dialect::{Dialect, http_status};
use crate::routers::RouterClient;
use crate::state::Edge;

/// tonic reports a passed deadline as CANCELLED ("Timeout expired"). When the edge's own
/// request timeout has run out, that is a gateway timeout (504), not keyroute going away.
fn past_deadline(status: tonic::Status, started: Instant, timeout: Duration) -> tonic::Status {
    if status.code() == tonic::Code::Cancelled && started.elapsed() >= timeout {
        return tonic::Status::deadline_exceeded(format!(
            "no answer within the edge's request timeout ({}s)",
            timeout.as_secs_f64()
        ));
    }
    status
}

/// A refused call's response, its access note naming the model the caller asked for.
pub(crate) fn asked_for(response: Response, model: String) -> Response {
    if let Some(note) = CallNote::of(&response) {
        note.facts().model = Some(model);
    }
    response
}

/// Whether a router's answer shows that it accepted the caller's token: it served the call,
/// or refused it for another reason after authenticating (the caller's request, settings or
/// balance, or the provider). A failure of keyroute itself (the vault unreachable) says
/// nothing about the token.
fn token_checked<T>(reply: &Result<T, tonic::Status>) -> bool {
    let Err(status) = reply else { return true };
    let origin = status.metadata().get(contract::header::ERROR_ORIGIN);
    status.code() != tonic::Code::Unauthenticated
        && origin.is_some_and(|origin| {
            origin == contract::header::ORIGIN_CLIENT || origin == contract::header::ORIGIN_UPSTREAM
        })
}

/// One model call as it arrived: the dialect it speaks, its headers, and the metadata every
/// router request carries (made once, whatever the number of attempts).
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub dialect: Dialect,
    /// The metrics label for the route (`chat_completions`, `messages`, ...).
    pub route: &'static str,
    pub headers: &'a HeaderMap,
    /// `Bearer <gateway token>`.
    authorization: AsciiMetadataValue,
    /// The token's hash, to report it verified.
    token: TokenHash,
    /// Set by the request-id middleware on every request.
    request_id: Option<AsciiMetadataValue>,
}

impl<'a> Call<'a> {
    /// The call, or a 401 in `dialect` when no usable token came with it.
    pub fn start(
        dialect: Dialect,
        route: &'static str,
        headers: &'a HeaderMap,
    ) -> Result<Self, Response> {
        let token = gateway_token(headers).ok_or_else(|| {
            dialect.error(
                StatusCode::UNAUTHORIZED,
                "a gateway token is required: send `Authorization: Bearer kr_...` or `x-api-key: kr_...`",
                None,
                Some("invalid_api_key"),
            )
        })?;
        let authorization = format!("Bearer {token}").parse().map_err(|_| {
            dialect.error(
                StatusCode::UNAUTHORIZED,
                "the gateway token is malformed",
                None,
                Some("invalid_api_key"),
            )
        })?;
        let request_id = headers
            .get(&contract::header_name::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Ok(Self {
            dialect,
            route,
            headers,
            authorization,
            token: token_hash(token),
            request_id,
        })
    }

    /// The whole body; a 413 when it is larger than the edge accepts, a 408 when it does not
    /// arrive within the body timeout.
    pub async fn body(&self, edge: &Edge, body: Body) -> Result<Bytes, Response> {
        let too_large = || {
            self.dialect.error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request body is larger than {} bytes", edge.body_limit),
                None,
                Some("request_too_large"),
            )
        };
        let declared = self
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|length| length > edge.body_limit) {
            return Err(too_large());
        }
        let timeout = edge.limits.body_timeout;
        match tokio::time::timeout(timeout, axum::body::to_bytes(body, edge.body_limit)).await {
            Ok(read) => read.map_err(|_| too_large()),
            Err(_) => {
                let mut response = self.dialect.error(
                    StatusCode::REQUEST_TIMEOUT,
                    &format!(
                        "the request body did not arrive within {}s",
                        timeout.as_secs_f64()
                    ),
                    None,
                    Some("request_timeout"),
                );
                // The rest of the body may still come: this connection cannot carry
                // another request.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                Err(response)
            }
        }
    }

    /// A 400 naming the field at fault.
    pub fn invalid(&self, invalid: &keyroute_wire::ingress::IngressError) -> Response {
        let param = (!invalid.param.is_empty()).then_some(invalid.param.as_str());
        // The message names the field too: Anthropic's shape has no `param`.
        let message = match param {
            Some(param) if !invalid.message.contains(param) => {
                format!("{param}: {}", invalid.message)
            }
            _ => invalid.message.clone(),
        };
        self.dialect
            .error(StatusCode::BAD_REQUEST, &message, param, None)
    }

    /// A router request carrying the caller's token, request id and deadline.
    fn router_request<T>(&self, edge: &Edge, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(edge.request_timeout);
        let metadata = request.metadata_mut();
        metadata.insert("authorization", self.authorization.clone());
        if let Some(id) = &self.request_id {
            metadata.insert(contract::header::REQUEST_ID, id.clone());
        }
        request
    }

    /// A router error in this call's dialect, counted, and noted for the access line.
    pub fn failed(&self, edge: &Edge, status: &tonic::Status, started: Instant) -> Response {
        let mut response = self.dialect.status_error(status);
        edge.metrics
            .router_error(self.route, response.status(), status, started.elapsed());
        let mut facts = CallFacts::default();
        facts.failed(status);
        CallNote::new(facts).attach(&mut response);
        response
    }

    /// Calls a router with `first`, then, while calls never reach their router (refused
    /// connections), tries the next router with a message rebuilt by `again`; at most once
    /// per router. Any other outcome is final: a router that got the call owns it.
    pub async fn route<M, T, Fut>(
        &self,
        edge: &Edge,
        first: M,
        again: &(dyn Fn() -> Option<M> + Sync),
        call: impl Fn(RouterClient, tonic::Request<M>) -> Fut,
        started: Instant,
    ) -> Result<tonic::Response<T>, Response>
    where
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut first = Some(first);
        let next = || {
            first
                .take()
                .or_else(again)
                .map(|message| self.router_request(edge, message))
        };
        let reply = edge.routers.call(next, call).await;
        if token_checked(&reply) {
            edge.auth_failures.verified(&self.token, Instant::now());
        }
        reply.map_err(|status| {
            let status = past_deadline(status, started, edge.request_timeout);
            self.failed(edge, &status, started)
        })
    }

    /// One answer, rendered by `render` in the dialect's response shape.
    pub async fn complete(
        &self,
        edge: &Edge,
        chat: pb::ChatRequest,
        again: &(dyn Fn() -> Option<pb::ChatRequest> + Sync),
        render: impl FnOnce(&pb::ChatResponse) -> Vec<u8>,
    ) -> Response {
        let started = Instant::now();
        let model = chat.model.clone();
        let wrap = |chat| CompleteRequest {
            request: Some(chat),
        };
        let again = || again().map(wrap);
        let reply = self
            .route(
                edge,
                wrap(chat),
                &again,
                |mut client, request| async move { client.complete(request).await },
                started,
            )
            .await;
        let (metadata, reply, _) = match reply {
            Ok(reply) => reply.into_parts(),
            Err(response) => return asked_for(response, model),
        };
        let Some(answer) = reply.response else {
            return self.dialect.error(
                StatusCode::BAD_GATEWAY,
                "the router sent an empty answer",
                None,
                None,
            );
        };
        let mut response = (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            render(&answer),
        )
            .into_response();
        self.dialect
            .served_headers(&metadata, response.headers_mut());
        edge.metrics
            .served(self.route, response.headers(), started.elapsed());
        let mut facts = CallFacts {
            model: Some(model),
            served_model: Some(answer.model.clone()),
            ..CallFacts::default()
        };
        facts.whole_answer(&metadata, answer.served_by.as_ref(), answer.usage.as_ref());
        CallNote::new(facts).attach(&mut response);
        response
    }

    /// A stream of router events, each rendered as SSE bytes by `renderer` the moment it
    /// arrives. A broken router stream becomes the dialect's error event, never a silent end.
    pub async fn stream<R>(
        &self,
        edge: &Edge,
        chat: pb::ChatRequest,
        again: &(dyn Fn() -> Option<pb::ChatRequest> + Sync),
        mut renderer: R,
    ) -> Response
    where
        R: StreamRenderer + Send + 'static,
    {
        let started = Instant::now();
        let model = chat.model.clone();
        let wrap = |chat| CompleteStreamRequest {
            request: Some(chat),
        };
        let again = || again().map(wrap);
        let reply = self
            .route(
                edge,
                wrap(chat),
                &again,
                |mut client, request| async move { client.complete_stream(request).await },
                started,
            )
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(response) => return asked_for(response, model),
        };
        let mut facts = CallFacts {
            model: Some(model),
            stream: true,
            ..CallFacts::default()
        };
        facts.answered(reply.metadata());
        let note = CallNote::new(facts);
        let watched = note.clone();
        let mut response_headers = HeaderMap::new();
        self.dialect
            .served_headers(reply.metadata(), &mut response_headers);
        // Counted when the stream ends (or the client leaves), with the whole duration.
        let mut done = edge
            .metrics
            .stream_guard(self.route, &response_headers, started);
        let timeout = edge.request_timeout;
        let body = reply.into_inner().map(move |event| {
            done.first_event();
            let event = event.unwrap_or_else(|status| {
                watched.facts().error_origin = Some(origin(&status));
                let status = past_deadline(status, started, timeout);
                keyroute_wire::canonical::event(Event::Error(pb::StreamError {
                    status: u32::from(http_status(&status).as_u16()),
                    r#type: "keyroute_error".into(),
                    message: status.message().to_owned(),
                    retryable: false,
                }))
            });
            watched.observe(&event);
            let mut out = Vec::with_capacity(256);
            renderer.render(&event, &mut out);
            Ok::<_, std::convert::Infallible>(Bytes::from(out))
        });
        let mut response = Response::new(Body::from_stream(body));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.extend(response_headers);
        note.attach(&mut response);
        response
    }
}
