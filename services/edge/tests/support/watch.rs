//! Watching how an edge calls the router in its process: which calls take its gRPC services
//! and which its typed `RouterService` ([`Watched`]), and the router's call spans
//! ([`Spans`]).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use keyroute_edge::routers::RouterEvents;
use keyroute_proto::router::v1::router_service_server::RouterService;
use keyroute_proto::router::v1::*;
use keyroute_router::in_process::InProcessRouter;
use tonic::body::Body;
use tonic::{Request, Response, Status};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// What the router in the process was asked, and how.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    grpc: Arc<Mutex<Vec<String>>>,
    typed: Arc<Mutex<Vec<&'static str>>>,
}

impl Watch {
    /// The paths of the calls to its gRPC services, in order.
    pub fn grpc_paths(&self) -> Vec<String> {
        self.grpc.lock().unwrap().clone()
    }

    /// The methods called on its `RouterService`, typed, in order.
    pub fn typed_methods(&self) -> Vec<&'static str> {
        self.typed.lock().unwrap().clone()
    }

    fn typed(&self, method: &'static str) {
        self.typed.lock().unwrap().push(method);
    }
}

/// The router's in-process services, both ways in, noting each call in a [`Watch`].
#[derive(Debug, Clone)]
pub struct Watched {
    router: InProcessRouter,
    watch: Watch,
}

impl Watched {
    pub fn new(router: InProcessRouter, watch: Watch) -> Self {
        Self { router, watch }
    }
}

impl tower::Service<http::Request<Body>> for Watched {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = <InProcessRouter as tower::Service<http::Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.router.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path().to_owned();
        self.watch.grpc.lock().unwrap().push(path);
        self.router.call(request)
    }
}

#[tonic::async_trait]
impl RouterService for Watched {
    async fn complete(
        &self,
        request: Request<CompleteRequest>,
    ) -> Result<Response<CompleteResponse>, Status> {
        self.watch.typed("Complete");
        RouterService::complete(&self.router, request).await
    }

    type CompleteStreamStream = RouterEvents;

    async fn complete_stream(
        &self,
        request: Request<CompleteStreamRequest>,
    ) -> Result<Response<RouterEvents>, Status> {
        self.watch.typed("CompleteStream");
        RouterService::complete_stream(&self.router, request).await
    }

    async fn list_models(
        &self,
        request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        self.watch.typed("ListModels");
        RouterService::list_models(&self.router, request).await
    }

    async fn test_credential(
        &self,
        request: Request<TestCredentialRequest>,
    ) -> Result<Response<TestCredentialResponse>, Status> {
        self.watch.typed("TestCredential");
        RouterService::test_credential(&self.router, request).await
    }

    async fn count_tokens(
        &self,
        request: Request<CountTokensRequest>,
    ) -> Result<Response<CountTokensResponse>, Status> {
        self.watch.typed("CountTokens");
        RouterService::count_tokens(&self.router, request).await
    }

    async fn embed(
        &self,
        request: Request<EmbedRequest>,
    ) -> Result<Response<EmbedResponse>, Status> {
        self.watch.typed("Embed");
        RouterService::embed(&self.router, request).await
    }
}

/// Spans are collected while it lives (see [`Spans::collect`]).
#[must_use]
pub struct Collecting {
    _guard: tracing::subscriber::DefaultGuard,
    _second: tracing::Dispatch,
}

/// A span's fields as text, and its target as `target`.
#[derive(Debug, Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// The `grpc.server` spans closed on this thread, with their fields as recorded.
#[derive(Debug, Clone, Default)]
pub struct Spans(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

impl Spans {
    /// Collects them on this thread until the guard is dropped. Its subscriber enables no
    /// other span: a long-lived one made under a call's span (a connection's) would keep
    /// that span from closing.
    pub fn collect(&self) -> Collecting {
        // While one subscriber exists, tracing caches a callsite's interest as the subscriber
        // of whichever thread meets it first sees it (another test's, seeing nothing): with
        // a second one alive, every subscriber is asked.
        let second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        let calls = Targets::new().with_target("keyroute::grpc", tracing::Level::TRACE);
        let subscriber = tracing_subscriber::registry().with(self.clone().with_filter(calls));
        Collecting {
            _guard: tracing::subscriber::set_default(subscriber),
            _second: second,
        }
    }

    /// The closed spans of calls to `RouterService`, in the order they closed.
    pub fn router_calls(&self) -> Vec<BTreeMap<String, String>> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .filter(|span| {
                span.get("rpc.service")
                    .is_some_and(|s| s == "keyroute.router.v1.RouterService")
            })
            .cloned()
            .collect()
    }
}

impl<S> tracing_subscriber::Layer<S> for Spans
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        if attrs.metadata().name() != "grpc.server" {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let target = attrs.metadata().target().to_owned();
        fields.0.insert("target".into(), target);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(fields) = span.extensions_mut().remove::<Fields>()
        {
            self.0.lock().unwrap().push(fields.0);
        }
    }
}
