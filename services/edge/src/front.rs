//! The one layer in front of every route: the request id, the request's span and access
//! line, the session cookie with its CSRF check, and the limit on failed token checks, run in
//! that order around the route as one service.
//!
//! Four `axum::middleware::from_fn` layers did the same with, per request and per layer, a
//! clone of the boxed inner service, a boxed `Next`, a boxed future and response mapping
//! (about fifty heap allocations a request). Here the steps are plain async functions handed
//! the rest of the chain as an async closure, and a request costs one clone of the route and
//! one boxed future.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use futures::future::BoxFuture;
use tower::{Layer, Service};

use crate::state::Edge;
use crate::{access, csrf, guard, request_id};

/// Puts [`Front`] in front of a route.
#[derive(Debug, Clone)]
pub struct FrontLayer {
    edge: Edge,
}

impl FrontLayer {
    pub fn new(edge: Edge) -> Self {
        Self { edge }
    }
}

impl<S> Layer<S> for FrontLayer {
    type Service = Front<S>;

    fn layer(&self, inner: S) -> Front<S> {
        Front {
            edge: self.edge.clone(),
            inner,
        }
    }
}

/// A route with the edge's steps around it.
#[derive(Debug, Clone)]
pub struct Front<S> {
    edge: Edge,
    inner: S,
}

impl<S> Service<Request> for Front<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone takes the place of the service made ready above, which serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let edge = self.edge.clone();
        Box::pin(async move {
            let route = async |request| match inner.call(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let guarded = async |request| guard::failed_tokens(&edge, request, route).await;
            let session = async |request| csrf::session_cookie(request, guarded).await;
            let observed = async |request| access::observe(request, session).await;
            Ok(request_id::stamp(request, observed).await)
        })
    }
}
