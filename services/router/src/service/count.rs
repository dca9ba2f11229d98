//! `CountTokens`: how many input tokens a request would use. Where the key that would serve
//! it can count (Anthropic's own API), the provider counts (exact); otherwise, or when that call fails,
//! keyroute estimates. Nothing is charged.

use keyroute_proto::router::v1::{CountTokensRequest, CountTokensResponse};
use keyroute_wire::contract::Operation;
use tonic::{Request, Response, Status};

use crate::service::Router;

impl Router {
    pub(crate) async fn count(
        &self,
        request: Request<CountTokensRequest>,
    ) -> Result<Response<CountTokensResponse>, Status> {
        let caller = self.caller(&request).await?;
        let chat = Self::validate(request.into_inner().request)?;
        let plan = self.plan(&caller, &chat.model).await?;
        let found = self.choose(&plan, &caller.principal_id, &chat.model)?;
        let Some(first) = found.first() else {
            return Err(Status::failed_precondition(format!(
                "cannot route {}",
                chat.model
            )));
        };
        let provider = first.provider.id.to_owned();
        let estimate = |provider| CountTokensResponse {
            input_tokens: keyroute_wire::estimate::input_tokens(&chat),
            exact: false,
            provider,
        };
        if !first.contract.supports(Operation::CountTokens) {
            return Ok(Response::new(estimate(provider)));
        }
        match self.upstreams.count_tokens(first, &chat).await {
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
