//! `TestCredential`: one tiny call with one of the caller's keys (the model they name, or
//! the provider's cheapest), its outcome in words a person can act on, and an audit record
//! without which there is no answer. For an internal platform the router also does what the
//! edge does after a test: it remembers the outcome on the key, for a principal who may
//! manage it; both records name the platform as the channel.

use std::time::{Duration, Instant};

use keyroute_proto::router::v1::*;
use keyroute_proto::vault::v1::{RecordCredentialTestRequest, RecordCredentialTestResultRequest};
use keyroute_tls::{Identity, PeerInfo};
use keyroute_wire::error::ErrorKind;
use tonic::{Request, Response};

use super::Router;
use super::opening::bearer;
use crate::cache::leases::Lease;
use crate::error::RouterError;
use crate::platform::{on_behalf, platform_of};
use crate::policy::candidates::candidates;
use crate::policy::charging::request_id;
use crate::policy::cooldowns::Cooldowns;
use crate::policy::fallback;
use crate::upstream::{Discovery, MAX_MODELS};
use crate::vault::vault_error;

/// The longest a key test waits for the provider's model list.
const DISCOVERY_WAIT: Duration = Duration::from_secs(20);

/// The listed model ids, and why there are none where there are none.
fn listed(discovery: Option<&Discovery>) -> (Vec<String>, String) {
    match discovery {
        Some(Discovery::Listed(models)) => {
            let ids = models.iter().map(|m| m.id.clone()).collect();
            let note = if models.len() >= MAX_MODELS {
                format!("the provider lists more models; the first {MAX_MODELS} are shown")
            } else {
                String::new()
            };
            (ids, note)
        }
        Some(Discovery::Unlisted(why)) => (Vec::new(), why.clone()),
        Some(Discovery::Failed(error)) => (
            Vec::new(),
            format!(
                "the provider refused to list models ({} {}): {}",
                error.status, error.error_type, error.message
            ),
        ),
        None => (
            Vec::new(),
            "the provider's model list did not arrive in time".to_owned(),
        ),
    }
}

/// The vault's word for an outcome (`TEST_OUTCOME_KEY_INVALID` is `key_invalid`).
fn outcome_word(outcome: TestOutcome) -> String {
    outcome
        .as_str_name()
        .strip_prefix("TEST_OUTCOME_")
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// A platform's test: who asked, for whom, under which request id.
struct Channel {
    platform: Identity,
    token: String,
    request_id: String,
}

impl Channel {
    fn request<T>(&self, message: T) -> Result<Request<T>, RouterError> {
        on_behalf(message, &self.platform, &self.token, &self.request_id)
    }
}

impl Router {
    /// Remembers a platform's test outcome on the key, as the edge does after its tests:
    /// only those who may manage the key may record (a member who tested an org key is
    /// answered all the same), and a failure to record does not undo a test that ran.
    async fn record_result(&self, channel: &Channel, id: &str, outcome: TestOutcome) {
        let message = RecordCredentialTestResultRequest {
            credential_id: id.to_owned(),
            outcome: outcome_word(outcome),
        };
        let Ok(request) = channel.request(message) else {
            return;
        };
        match self
            .vault
            .clone()
            .record_credential_test_result(request)
            .await
        {
            Ok(_) => {}
            Err(status) if status.code() == tonic::Code::PermissionDenied => {
                tracing::debug!(credential = %id, "test result not recorded: the caller may not manage the key");
            }
            Err(status) => {
                tracing::warn!(credential = %id, error = %status.message(), "test result not recorded");
            }
        }
    }

    pub(super) async fn test_key(
        &self,
        request: Request<TestCredentialRequest>,
    ) -> Result<Response<TestCredentialResponse>, RouterError> {
        let caller = self.caller(&request).await?;
        // A platform's vault records carry the principal's token and the platform's name.
        let platform = match request.extensions().get::<PeerInfo>().and_then(platform_of) {
            Some(platform) => Some(Channel {
                platform: platform.clone(),
                token: bearer(&request)?,
                request_id: request_id(request.metadata()),
            }),
            None => None,
        };
        let test = request.into_inner();
        let lease = self.leases.get(&caller).await?;
        let key = lease
            .keys
            .iter()
            .find(|k| k.id == test.credential_id)
            .ok_or_else(|| {
                RouterError::NotFound(format!(
                    "credential {} is not one of your enabled keys",
                    test.credential_id
                ))
            })?;
        // Which models the key's provider says it can use, asked afresh.
        let discovery = self.upstreams.discover(key, DISCOVERY_WAIT, true).await;
        let (models, models_message) = listed(discovery.as_ref());
        // The requested model, or the provider's cheapest catalog model, or the first it
        // lists (a custom endpoint's, whose models no catalog knows).
        let model = if test.model.is_empty() {
            self.catalog
                .models()
                .iter()
                // A chat probe: embedding models (the cheapest of all) cannot answer it.
                .filter(|m| !m.capabilities.iter().any(|c| c == "embeddings"))
                .flat_map(|m| {
                    m.offers
                        .iter()
                        .filter(|o| o.provider.id == key.provider)
                        .map(move |o| (o.input_per_million + o.output_per_million, m.id.clone()))
                })
                .min()
                .map(|(_, id)| id)
                .or_else(|| models.first().cloned())
                .ok_or_else(|| RouterError::NoRoute {
                    message: format!(
                        "no catalog model to test a {} key with, and no model it lists ({}); name one",
                        key.provider,
                        if models_message.is_empty() { "it lists none" } else { &models_message }
                    ),
                    retry_at: None,
                })?
        } else {
            test.model.clone()
        };
        let pinned = if key.provider == "custom" {
            format!("custom/{}/{model}", key.label)
        } else {
            format!("{}/{model}", key.provider)
        };
        let resolution = self.resolve(&pinned).or_else(|_| self.resolve(&model))?;
        let single = Lease::new(
            &caller.principal_id,
            lease.owners.clone(),
            vec![key.clone()],
            lease.settings.clone(),
            Duration::from_secs(60),
        );
        let found = candidates(&resolution, &single, None, &Cooldowns::new())
            .map_err(|no_route| no_route.for_model(&model))?;
        let probe = ChatRequest {
            model: model.clone(),
            messages: vec![keyroute_wire::canonical::pb::Message {
                role: Role::User as i32,
                content: vec![ContentPart {
                    part: Some(content_part::Part::Text("ping".into())),
                    ..Default::default()
                }],
                name: String::new(),
            }],
            sampling: Some(Sampling {
                max_tokens: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        };
        let started = Instant::now();
        let outcome = fallback::complete(
            &self.upstreams,
            &found,
            &probe,
            &Cooldowns::new(),
            &self.metrics,
            // A test is a one-token probe with the caller's own key, billed by its provider
            // to the key's owner; it is audited, not metered.
            &|_| {},
        )
        .await;
        let latency_ms = started.elapsed().as_millis() as u32;
        tracing::info!(credential = %key.fingerprint, ok = outcome.is_ok(), "credential tested");
        let (outcome, message) = match outcome {
            Ok(_) => (TestOutcome::Ok, String::new()),
            Err(failure) => {
                let kind = match (failure.error.kind, failure.error.status) {
                    (ErrorKind::Authentication, 403) => TestOutcome::NoModelAccess,
                    (ErrorKind::Authentication, _) => TestOutcome::KeyInvalid,
                    (ErrorKind::InvalidRequest, 404) => TestOutcome::NoModelAccess,
                    (ErrorKind::Billing, _) => TestOutcome::OutOfCredit,
                    _ => TestOutcome::Unreachable,
                };
                (kind, failure.error.message)
            }
        };
        let audit = RecordCredentialTestRequest {
            credential_id: key.id.clone(),
            principal_id: caller.principal_id.clone(),
            outcome: outcome_word(outcome),
            model: model.clone(),
            latency_ms,
        };
        // A test nobody can trace did not happen: without the audit record, no answer.
        let audit = match &platform {
            Some(channel) => channel.request(audit)?,
            None => Request::new(audit),
        };
        self.vault
            .clone()
            .record_credential_test(audit)
            .await
            .map_err(vault_error)?;
        if let Some(channel) = &platform {
            self.record_result(channel, &key.id, outcome).await;
        }
        Ok(Response::new(TestCredentialResponse {
            outcome: outcome as i32,
            provider: key.provider.clone(),
            latency_ms,
            provider_message: message,
            models,
            models_message,
        }))
    }
}
