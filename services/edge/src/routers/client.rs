//! One router call's client, whichever way the router is reached: tonic's gRPC client over
//! the router's channel, or, for the router in this process (`keyroute dev`), the router's
//! own `RouterService` called typed, so that a model call is neither encoded nor decoded on
//! a hop that never leaves the process. Both take and give the same `tonic` requests,
//! responses and statuses, so the edge's model and management routes do not tell them apart.

use std::fmt;
use std::sync::Arc;

use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::router_service_server::RouterService;
use keyroute_proto::router::v1::*;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use super::RouterChannel;

/// A stream's events from a router, whichever way it was reached.
pub type RouterEvents = BoxStream<CompleteStreamResponse>;

/// The router in this process, called typed (what its `InProcessRouter` is to the edge):
/// it keeps what its gRPC port guarantees (the caller's identity, deadline, refusal once
/// stopping, the call's span) without the encoding. Cheap to clone.
#[derive(Clone)]
pub struct DirectRouter(Arc<dyn RouterService<CompleteStreamStream = RouterEvents>>);

impl DirectRouter {
    /// Calls go to `router`.
    pub fn new(router: impl RouterService<CompleteStreamStream = RouterEvents>) -> Self {
        Self(Arc::new(router))
    }
}

impl fmt::Debug for DirectRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DirectRouter")
    }
}

/// A client for one router call; cheap to make (a channel handle or an `Arc`).
#[derive(Debug, Clone)]
pub enum RouterClient {
    /// gRPC over the router's channel.
    Grpc(RouterServiceClient<RouterChannel>),
    /// The router in this process, called directly.
    Direct(DirectRouter),
}

impl RouterClient {
    /// `RouterService/Complete`.
    pub async fn complete(
        &mut self,
        request: Request<CompleteRequest>,
    ) -> Result<Response<CompleteResponse>, Status> {
        match self {
            Self::Grpc(client) => client.complete(request).await,
            Self::Direct(DirectRouter(router)) => router.complete(request).await,
        }
    }

    /// `RouterService/CompleteStream`: its events as one stream type for both ways.
    pub async fn complete_stream(
        &mut self,
        request: Request<CompleteStreamRequest>,
    ) -> Result<Response<RouterEvents>, Status> {
        match self {
            Self::Grpc(client) => {
                let reply = client.complete_stream(request).await?;
                Ok(reply.map(|events| Box::pin(events) as RouterEvents))
            }
            Self::Direct(DirectRouter(router)) => router.complete_stream(request).await,
        }
    }

    /// `RouterService/ListModels`.
    pub async fn list_models(
        &mut self,
        request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        match self {
            Self::Grpc(client) => client.list_models(request).await,
            Self::Direct(DirectRouter(router)) => router.list_models(request).await,
        }
    }

    /// `RouterService/TestCredential`.
    pub async fn test_credential(
        &mut self,
        request: Request<TestCredentialRequest>,
    ) -> Result<Response<TestCredentialResponse>, Status> {
        match self {
            Self::Grpc(client) => client.test_credential(request).await,
            Self::Direct(DirectRouter(router)) => router.test_credential(request).await,
        }
    }

    /// `RouterService/CountTokens`.
    pub async fn count_tokens(
        &mut self,
        request: Request<CountTokensRequest>,
    ) -> Result<Response<CountTokensResponse>, Status> {
        match self {
            Self::Grpc(client) => client.count_tokens(request).await,
            Self::Direct(DirectRouter(router)) => router.count_tokens(request).await,
        }
    }

    /// `RouterService/Embed`.
    pub async fn embed(
        &mut self,
        request: Request<EmbedRequest>,
    ) -> Result<Response<EmbedResponse>, Status> {
        match self {
            Self::Grpc(client) => client.embed(request).await,
            Self::Direct(DirectRouter(router)) => router.embed(request).await,
        }
    }
}
