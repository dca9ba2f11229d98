//! An embedding call with one key: the contract's batches sent in order within one overall
//! deadline, each answer bounded like any whole answer, the vectors joined in input order.

use keyroute_wire::canonical::pb;
use keyroute_wire::embeddings::estimate_tokens;
use keyroute_wire::error::WireError;

use super::{Target, Upstreams};

/// The vectors for every input, in order, and their input tokens: the provider's counts,
/// with keyroute's estimate for any batch it did not count (`estimated` then says so).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f32>>,
    pub input_tokens: u64,
    pub estimated: bool,
}

/// An embedding call that failed part-way: the batches already answered were billed by the
/// provider, so their tokens are charged whatever happens next.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedFailure {
    pub error: WireError,
    /// Input tokens of the batches the provider answered before the failure.
    pub served_tokens: u64,
}

impl From<WireError> for EmbedFailure {
    fn from(error: WireError) -> Self {
        Self {
            error,
            served_tokens: 0,
        }
    }
}

impl Upstreams {
    /// Embeds `request`'s inputs with the target's key. A batch that fails fails the call,
    /// saying how many tokens the batches before it used.
    pub async fn embed(
        &self,
        target: Target<'_>,
        request: &pb::EmbedRequest,
    ) -> Result<Embeddings, EmbedFailure> {
        let contract = target.contract;
        let batches = contract.embed_request(request, target.model)?;
        let deadline = tokio::time::Instant::now() + self.timeouts.total;
        let mut all = Embeddings {
            vectors: Vec::with_capacity(request.inputs.len()),
            ..Embeddings::default()
        };
        let mut offset = 0;
        for batch in batches {
            let inputs = batch.inputs;
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let part = self
                .fetch(target, batch.http, remaining, |status, body| {
                    contract.parse_embed_response(status, body, inputs)
                })
                .await
                .map_err(|error| EmbedFailure {
                    error,
                    served_tokens: all.input_tokens,
                })?;
            let texts = request
                .inputs
                .get(offset..offset + inputs)
                .unwrap_or_default();
            offset += inputs;
            all.input_tokens += match part.input_tokens {
                Some(counted) => counted,
                None => {
                    all.estimated = true;
                    estimate_tokens(texts)
                }
            };
            all.vectors.extend(part.vectors);
        }
        Ok(all)
    }
}
