//! `RouterService` over gRPC: who is calling (the edge or an internal platform, by mTLS
//! identity; the principal by gateway token), which model, which keys, and the answer. One
//! module per call; each works in `RouterError` and this boundary maps it to a `Status` once.

mod admission;
mod chat;
mod count;
mod embed;
mod models;
mod opening;
mod test_credential;

use std::sync::Arc;

use keyroute_proto::router::v1::router_service_server::RouterService;
use keyroute_proto::router::v1::*;
use tonic::{Request, Response, Status};

use crate::cache::accounts::Accounts;
use crate::cache::leases::LeaseCache;
use crate::cache::reservations::Reservations;
use crate::cache::tokens::TokenCache;
use crate::cache::usage::UsageReporter;
use crate::catalog::LiveCatalog;
use crate::metrics::Metrics;
use crate::policy::cooldowns::Cooldowns;
use crate::upstream::Upstreams;
use crate::vault::VaultClient;

/// Everything a request needs, shared by all of them.
#[derive(Debug, Clone)]
pub struct Router {
    pub tokens: Arc<TokenCache>,
    pub leases: Arc<LeaseCache>,
    /// The catalog in use: the built-in one and the operator's file, reloaded on change.
    pub catalog: Arc<LiveCatalog>,
    pub upstreams: Arc<Upstreams>,
    pub cooldowns: Arc<Cooldowns>,
    pub metrics: Arc<Metrics>,
    pub accounts: Arc<Accounts>,
    /// Credit held for managed calls in flight, here and at the vault.
    pub reservations: Arc<Reservations>,
    pub usage: Arc<UsageReporter>,
    /// Rate limits, counted with every other router's in Redis (or here alone).
    pub limiter: keyroute_ratelimit::Limiter,
    /// For audit records; leases, tokens and balances have their own caches.
    pub vault: VaultClient,
}

#[tonic::async_trait]
impl RouterService for Router {
    async fn complete(
        &self,
        request: Request<CompleteRequest>,
    ) -> Result<Response<CompleteResponse>, Status> {
        Ok(self.complete_chat(request).await?)
    }

    type CompleteStreamStream = chat::EventStream;

    async fn complete_stream(
        &self,
        request: Request<CompleteStreamRequest>,
    ) -> Result<Response<chat::EventStream>, Status> {
        Ok(self.stream_chat(request).await?)
    }

    async fn list_models(
        &self,
        request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        Ok(self.routable_models(request).await?)
    }

    async fn count_tokens(
        &self,
        request: Request<CountTokensRequest>,
    ) -> Result<Response<CountTokensResponse>, Status> {
        Ok(self.count(request).await?)
    }

    async fn embed(
        &self,
        request: Request<EmbedRequest>,
    ) -> Result<Response<EmbedResponse>, Status> {
        Ok(self.embed_texts(request).await?)
    }

    async fn test_credential(
        &self,
        request: Request<TestCredentialRequest>,
    ) -> Result<Response<TestCredentialResponse>, Status> {
        Ok(self.test_key(request).await?)
    }
}
