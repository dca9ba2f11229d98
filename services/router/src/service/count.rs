//! `CountTokens`: how many input tokens a request would use. Where the key that would serve
//! it can count (Anthropic's own API), the provider counts (exact); otherwise, or when that
//! call fails, keyroute estimates. Nothing is charged.

use keyroute_proto::router::v1::{CountTokensRequest, CountTokensResponse};
use keyroute_wire::contract::Operation;
use tonic::{Request, Response};

use super::Router;
use crate::error::RouterError;

impl Router {
    pub(super) async fn count(
        &self,
        request: Request<CountTokensRequest>,
    ) -> Result<Response<CountTokensResponse>, RouterError> {
        let opening = self.open(request, |r| r.request).await?;
        let plan = self.plan(&opening).await?;
        let found = self.choose(&plan, &opening)?;
        let chat = &opening.chat;
        let Some(first) = found.first() else {
            return Err(RouterError::NoRoute {
                message: format!("cannot route {}", chat.model),
                retry_at: None,
            });
        };
        let provider = first.provider.id.to_owned();
        let estimate = |provider| CountTokensResponse {
            input_tokens: u32::try_from(opening.input_estimate).unwrap_or(u32::MAX),
            exact: false,
            provider,
        };
        if !first.contract.supports(Operation::CountTokens) {
            return Ok(Response::new(estimate(provider)));
        }
        match self.upstreams.count_tokens(first.target(), chat).await {
            Ok(input_tokens) => Ok(Response::new(CountTokensResponse {
                input_tokens,
                exact: true,
                provider,
            })),
            Err(error) => {
                tracing::warn!(provider = first.provider.id, status = error.status, error = %error.message, "token count failed; estimating");
                Ok(Response::new(estimate(provider)))
            }
        }
    }
}
