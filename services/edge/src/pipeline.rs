//! What every model route does the same way whatever its dialect: find the gateway token,
//! read a bounded body, call the router with the caller's token and request id, and turn the
//! answer (one response or a stream of events) into HTTP, counting it in the metrics.

// A refusal here is the finished HTTP response in the caller's dialect: returned once, on
// the error path, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::time::Instant;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::{CompleteRequest, CompleteStreamRequest};
use keyroute_wire::canonical::pb::complete_stream_response::Event;
use keyroute_wire::canonical::{StreamRenderer, pb};

use tonic::transport::Channel;

use crate::dialect::{Dialect, http_status, served_headers};
use crate::routers::never_reached;
use crate::server::Edge;

/// The gateway token from `Authorization: Bearer kr_...` or `x-api-key: kr_...` (what the
/// Anthropic SDK sends).
pub fn gateway_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(keyroute_proto::bearer_token)
    {
        return Some(token);
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// One model call as it arrived: the dialect it speaks, its token and its headers.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub dialect: Dialect,
    /// The metrics label for the route (`chat_completions`, `messages`, ...).
    pub route: &'static str,
    pub token: &'a str,
    pub headers: &'a HeaderMap,
}

impl<'a> Call<'a> {
    /// The call, or a 401 in `dialect` when no token came with it.
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
        Ok(Self {
            dialect,
            route,
            token,
            headers,
        })
    }

    /// The whole body, or a 413 when it is larger than the edge accepts.
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
        axum::body::to_bytes(body, edge.body_limit)
            .await
            .map_err(|_| too_large())
    }

    /// A 400 naming the field at fault.
    pub fn invalid(&self, invalid: &keyroute_wire::ingress::IngressError) -> Response {
        let param = (!invalid.param.is_empty()).then_some(invalid.param.as_str());
        self.dialect
            .error(StatusCode::BAD_REQUEST, &invalid.message, param, None)
    }

    /// A router request carrying the caller's token, request id and deadline.
    pub fn router_request<T>(
        &self,
        edge: &Edge,
        message: T,
    ) -> Result<tonic::Request<T>, Response> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(edge.request_timeout);
        let Ok(authorization) = format!("Bearer {}", self.token).parse() else {
            return Err(self.dialect.error(
                StatusCode::UNAUTHORIZED,
                "the gateway token is malformed",
                None,
                Some("invalid_api_key"),
            ));
        };
        request
            .metadata_mut()
            .insert("authorization", authorization);
        if let Some(id) = self
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
        {
            request.metadata_mut().insert("x-request-id", id);
        }
        Ok(request)
    }

    /// A router error in this call's dialect, counted.
    pub fn failed(&self, edge: &Edge, status: &tonic::Status, started: Instant) -> Response {
        let response = self.dialect.status_error(status);
        edge.metrics
            .router_error(self.route, response.status(), status, started.elapsed());
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
        call: impl Fn(RouterServiceClient<Channel>, tonic::Request<M>) -> Fut,
        started: Instant,
    ) -> Result<tonic::Response<T>, Response>
    where
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut message = Some(first);
        let attempts = edge.routers.len().max(1);
        let mut last = None;
        for _ in 0..attempts {
            let Some(conn) = edge.routers.pick() else {
                break;
            };
            let Some(next) = message.take().or_else(again) else {
                break;
            };
            let request = self.router_request(edge, next)?;
            match call(conn.client(), request).await {
                Ok(reply) => {
                    conn.reached(true);
                    return Ok(reply);
                }
                Err(status) if never_reached(&status) => {
                    tracing::warn!(router = %conn.addr, error = %status.message(), "router unreachable; trying another");
                    conn.reached(false);
                    last = Some(status);
                }
                Err(status) => {
                    conn.reached(true);
                    return Err(self.failed(edge, &status, started));
                }
            }
        }
        let status = last.unwrap_or_else(|| {
            tonic::Status::unavailable(
                "no router is available: none of the router addresses resolves",
            )
        });
        let status =
            tonic::Status::unavailable(format!("no router is reachable: {}", status.message()));
        Err(self.failed(edge, &status, started))
    }

    /// One answer, rendered by `render` in the dialect's response shape.
    pub async fn complete(
        &self,
        edge: &Edge,
        chat: pb::ChatRequest,
        again: &(dyn Fn() -> Option<pb::ChatRequest> + Sync),
        render: fn(&pb::ChatResponse) -> Vec<u8>,
    ) -> Response {
        let started = Instant::now();
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
            Err(response) => return response,
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
        served_headers(&metadata, response.headers_mut());
        edge.metrics
            .served(self.route, response.headers(), started.elapsed());
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
            Err(response) => return response,
        };
        let mut response_headers = HeaderMap::new();
        served_headers(reply.metadata(), &mut response_headers);
        // Counted when the stream ends (or the client leaves), with the whole duration.
        let done = edge
            .metrics
            .stream_guard(self.route, &response_headers, started);
        let body = reply.into_inner().map(move |event| {
            let _done = &done;
            let event = event.unwrap_or_else(|status| {
                keyroute_wire::canonical::event(Event::Error(pb::StreamError {
                    status: u32::from(http_status(&status).as_u16()),
                    r#type: "keyroute_error".into(),
                    message: status.message().to_owned(),
                    retryable: false,
                }))
            });
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
        response
    }
}
