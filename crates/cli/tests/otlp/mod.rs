//! An OTLP/gRPC trace receiver built from the published protos (`opentelemetry-proto`), and
//! reading what it received: spans by trace, their parentage and attributes.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;

/// The caller's span id in every `traceparent` sent.
pub const CALLER_SPAN: &str = "00f067aa0ba902b7";
pub const SERVER: i32 = 2;
pub const CLIENT: i32 = 3;

/// Every span exported to the receiver, in arrival order.
#[derive(Clone, Default)]
pub struct Receiver(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Receiver {
    /// Listens on a free loopback port; returns the endpoint to export to.
    pub fn start(&self) -> String {
        let incoming =
            tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = incoming.local_addr().unwrap();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(self.clone()))
            .serve_with_incoming(incoming);
        tokio::spawn(server);
        format!("http://{addr}")
    }

    pub fn spans(&self) -> Vec<Span> {
        self.0.lock().unwrap().clone()
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn attr<'s>(span: &'s Span, key: &str) -> Option<&'s any_value::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

pub fn text<'s>(span: &'s Span, key: &str) -> &'s str {
    match attr(span, key) {
        Some(any_value::Value::StringValue(text)) => text,
        other => panic!("{}: {key} is {other:?}", span.name),
    }
}

pub fn int(span: &Span, key: &str) -> i64 {
    match attr(span, key) {
        Some(any_value::Value::IntValue(value)) => *value,
        other => panic!("{}: {key} is {other:?}", span.name),
    }
}

/// Every string in a span: its name, attributes, events, status message.
pub fn strings(span: &Span) -> Vec<String> {
    fn values(attributes: &[KeyValue], out: &mut Vec<String>) {
        for kv in attributes {
            out.push(kv.key.clone());
            out.push(format!("{:?}", kv.value));
        }
    }
    let mut out = vec![span.name.clone(), span.trace_state.clone()];
    values(&span.attributes, &mut out);
    for event in &span.events {
        out.push(event.name.clone());
        values(&event.attributes, &mut out);
    }
    if let Some(status) = &span.status {
        out.push(status.message.clone());
    }
    out
}

/// One trace's spans, with their parentage.
pub struct Trace {
    pub spans: Vec<Span>,
}

impl Trace {
    pub fn of(all: &[Span], trace_id: &str) -> Self {
        Self {
            spans: all
                .iter()
                .filter(|s| hex(&s.trace_id) == trace_id)
                .cloned()
                .collect(),
        }
    }

    /// The one span named `name`.
    pub fn one(&self, name: &str) -> &Span {
        let found: Vec<&Span> = self.spans.iter().filter(|s| s.name == name).collect();
        assert_eq!(found.len(), 1, "one {name} in {:?}", self.names());
        found[0]
    }

    pub fn children<'t>(&'t self, parent: &Span) -> Vec<&'t Span> {
        self.spans
            .iter()
            .filter(|s| s.parent_span_id == parent.span_id)
            .collect()
    }

    pub fn names(&self) -> Vec<&str> {
        self.spans.iter().map(|s| s.name.as_str()).collect()
    }

    /// The edge's server span, child of the caller's span, and the router's under it.
    pub fn edge_and_router(&self, edge_name: &str, rpc: &str, status: i64) -> (&Span, &Span) {
        let edge = self.one(edge_name);
        assert_eq!(edge.kind, SERVER);
        assert_eq!(hex(&edge.parent_span_id), CALLER_SPAN, "{edge_name}");
        assert_eq!(edge.trace_state, "keyroute-test=1", "tracestate passed on");
        assert_eq!(
            text(edge, "http.route"),
            edge_name.split_once(' ').unwrap().1
        );
        let router = self.one(&format!("keyroute.router.v1.RouterService/{rpc}"));
        assert_eq!(router.kind, SERVER);
        assert_eq!(router.parent_span_id, edge.span_id, "router under the edge");
        assert_eq!(text(router, "rpc.system"), "grpc");
        assert_eq!(text(router, "rpc.method"), rpc);
        assert_eq!(int(router, "rpc.grpc.status_code"), status);
        (edge, router)
    }

    /// The router's upstream attempts, in order, each a sibling under the router's span.
    pub fn attempts(&self, router: &Span) -> Vec<&Span> {
        let mut attempts: Vec<&Span> = self
            .children(router)
            .into_iter()
            .filter(|s| s.kind == CLIENT)
            .collect();
        attempts.sort_by_key(|s| int(s, "keyroute.attempt"));
        attempts
    }

    /// The vault's spans in this trace: each under the router's span or one of its
    /// attempts (or the edge's, for the management API).
    pub fn vault_spans(&self) -> Vec<&Span> {
        let vault: Vec<&Span> = self
            .spans
            .iter()
            .filter(|s| s.name.starts_with("keyroute.vault.v1.VaultService/"))
            .collect();
        for span in &vault {
            assert_eq!(span.kind, SERVER);
            let parent = self.spans.iter().find(|s| s.span_id == span.parent_span_id);
            assert!(
                parent.is_some(),
                "{} has its parent in the trace",
                span.name
            );
        }
        vault
    }
}
