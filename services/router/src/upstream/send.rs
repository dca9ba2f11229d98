//! Sending one request: addressed on its parsed base URL, signed over the exact path sent,
//! on the client its destination calls for, within the first-byte deadline. A 2xx answer is
//! returned as it arrives; a 3xx is refused (never followed); anything else becomes the
//! provider's error, read from a bounded prefix of its body.

use std::error::Error;
use std::io;

use bytes::Bytes;
use http::header::{ACCEPT, HeaderName, HeaderValue, PROXY_AUTHORIZATION};
use http::{Method, Request, Uri};
use http_body_util::Full;
use keyroute_wire::error::{WireError, parse_retry_after};
use keyroute_wire::http::HttpRequest;

use super::base::{Base, BaseError};
use super::body::{self, Response};
use super::client::HttpClient;
use super::{Target, Upstreams, egress, scrubbed};

/// Times a request refused by an HTTP/2 server before processing it (a graceful GOAWAY, a
/// REFUSED_STREAM) is sent again, as reqwest did: such a request was not acted on.
const MAX_RESENDS: usize = 2;

/// A request ready to send, as many times as a refused stream needs: each attempt builds its
/// own `http::Request` from these (the body is shared, not copied).
pub(super) struct Outgoing<'a> {
    pub method: Method,
    pub uri: Uri,
    pub headers: &'a [(&'static str, String)],
    pub body: Bytes,
    /// For a plain-http request a proxy with credentials forwards.
    pub proxy_auth: Option<HeaderValue>,
}

/// Why a request could not be built: a header the contract or the credential made invalid
/// (its value is never quoted: it may be a secret).
#[derive(Debug, thiserror::Error)]
#[error("the request has an invalid {0} header")]
struct InvalidHeader(&'static str);

impl Outgoing<'_> {
    fn request(&self) -> Result<Request<Full<Bytes>>, InvalidHeader> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.reserve(self.headers.len() + 2);
        for (name, value) in self.headers {
            let invalid = || InvalidHeader(name);
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            let value = HeaderValue::from_str(value).map_err(|_| invalid())?;
            headers.append(header, value);
        }
        // What reqwest sent unless told otherwise.
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        if let Some(auth) = &self.proxy_auth {
            headers.entry(PROXY_AUTHORIZATION).or_insert(auth.clone());
        }
        Ok(request)
    }

    /// Sends the request on `client` until `deadline` (`None` once it passed), again when
    /// an HTTP/2 server refused it unprocessed.
    pub async fn send(
        &self,
        client: &HttpClient,
        provider: &'static str,
        deadline: tokio::time::Instant,
    ) -> Option<Result<Response, WireError>> {
        let mut resends = 0;
        loop {
            let request = match self.request() {
                Ok(request) => request,
                Err(error) => return Some(Err(unreachable(provider, &error))),
            };
            match tokio::time::timeout_at(deadline, client.request(request)).await {
                Err(_) => return None,
                Ok(Ok(response)) => return Some(Ok(response)),
                Ok(Err(error)) if resends < MAX_RESENDS && refused_unprocessed(&error) => {
                    resends += 1;
                }
                Ok(Err(error)) => return Some(Err(connect_error(provider, &error))),
            }
        }
    }
}

/// Whether an HTTP/2 server said it did not process the request: a graceful GOAWAY that
/// left it out, or REFUSED_STREAM (RFC 9113, 8.7).
fn refused_unprocessed(error: &(dyn Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(current) = source {
        if let Some(h2) = current.downcast_ref::<h2::Error>() {
            return h2.is_remote()
                && ((h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR))
                    || (h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM)));
        }
        source = current.source();
    }
    false
}

/// Whether a connect or send failure was a timeout.
fn timed_out(error: &(dyn Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(current) = source {
        if current
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
            || current
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
        {
            return true;
        }
        source = current.source();
    }
    false
}

/// What went wrong, cause by cause ("tcp connect error: Connection refused"), without the
/// client's own wrapper and without the URL (nothing a key could hide in).
fn describe(error: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = match error.downcast_ref::<hyper_util::client::legacy::Error>() {
        Some(client) if client.source().is_some() => client.source(),
        _ => Some(error),
    };
    while let Some(current) = source {
        let text = current.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        source = current.source();
    }
    parts.join(": ")
}

fn unreachable(provider: &'static str, error: &(dyn Error + 'static)) -> WireError {
    let status = if timed_out(error) { 504 } else { 502 };
    WireError::from_status(
        provider,
        status,
        "unreachable",
        format!("cannot reach {provider}: {}", describe(error)),
    )
}

/// A request that got no answer: refused by the egress policy, timed out, or unreachable.
pub(super) fn connect_error(provider: &'static str, error: &(dyn Error + 'static)) -> WireError {
    match egress::refusal(error) {
        Some(refused) => egress::refused_error(provider, refused),
        None => unreachable(provider, error),
    }
}

/// A base URL that cannot be used: this key's endpoint is unusable; another key may work.
fn unusable_base(provider: &'static str, raw: &str, why: &BaseError) -> WireError {
    let mut error = match why {
        BaseError::NotAUrl => WireError::from_status(
            provider,
            401,
            "invalid_credential",
            format!("{provider} base url {raw:?} is not a URL"),
        ),
        BaseError::Scheme(_) => WireError::from_status(
            provider,
            502,
            "unreachable",
            format!("cannot reach {provider}: its base url {raw:?}: {why}"),
        ),
    };
    error.retryable = true;
    error
}

impl Upstreams {
    /// The parsed base URL for a key, and whether a user supplied it: the operator's
    /// override (trusted, parsed at start), else what the contract says (parsed once per text).
    fn base(&self, target: Target<'_>) -> Result<(std::sync::Arc<Base>, bool), WireError> {
        let provider = target.provider();
        if let Some((raw, parsed)) = self.operator_bases.get(provider) {
            return match parsed {
                Ok(base) => Ok((base.clone(), false)),
                Err(why) => Err(unusable_base(provider, raw, why)),
            };
        }
        let raw = target.contract.base_url(&target.key.fingerprint)?;
        let base = self
            .bases
            .get(&raw)
            .map_err(|why| unusable_base(provider, &raw, &why))?;
        Ok((base, target.contract.user_supplied_destination()))
    }

    /// The client for a destination, once its host as written (an address literal or
    /// `localhost`) passed the policy (names are checked on the addresses they resolve to).
    fn client_for(
        &self,
        provider: &'static str,
        base: &Base,
        user_supplied: bool,
    ) -> Result<HttpClient, WireError> {
        if !user_supplied {
            return Ok(self.http.get());
        }
        base.literal()
            .map_err(|refused| egress::refused_error(provider, refused))?;
        Ok(self.guarded.get())
    }

    /// Sends a built wire request with the target's base URL and credential, and returns
    /// the answer once its head arrived with a 2xx.
    pub(super) async fn send_http(
        &self,
        target: Target<'_>,
        mut http: HttpRequest,
    ) -> Result<Response, WireError> {
        let provider = target.provider();
        let (base, user_supplied) = self.base(target)?;
        // The full path as sent, base path included: SigV4 signs exactly this.
        http.path = base.path_for(&http.path);
        self.authorize(target, &mut http, base.authority()).await?;
        let client = self.client_for(provider, &base, user_supplied)?;
        let uri = base.uri(std::mem::take(&mut http.path)).map_err(|error| {
            unreachable(
                provider,
                &io::Error::other(format!("an invalid path ({error})")),
            )
        })?;
        let proxy_auth = match (&self.proxies, user_supplied) {
            (Some(proxies), false) => proxies.forwarding_auth(&uri),
            _ => None,
        };
        let outgoing = Outgoing {
            // POST for calls, GET for model lists: whatever the contract built.
            method: Method::from_bytes(http.method.as_bytes()).unwrap_or(Method::POST),
            uri,
            headers: &http.headers,
            body: Bytes::from(std::mem::take(&mut http.body)),
            proxy_auth,
        };
        // The answer's head, and an error's body, arrive within the first-byte deadline.
        let deadline = tokio::time::Instant::now() + self.timeouts.first_byte;
        let response = outgoing
            .send(&client, provider, deadline)
            .await
            .ok_or_else(|| {
                WireError::from_status(
                    provider,
                    504,
                    "timeout",
                    format!("{provider} did not answer in time"),
                )
            })??;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        if (300..400).contains(&status) {
            return Err(WireError::from_status(
                provider,
                502,
                "redirect_refused",
                format!(
                    "{provider} answered with a redirect ({status}), which keyroute does not follow"
                ),
            ));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after").as_deref().and_then(parse_retry_after);
        let error_type = header("x-amzn-errortype");
        let body = body::read_prefix(response, body::MAX_ERROR_BYTES, deadline).await;
        let mut error = target
            .contract
            .parse_error(status, error_type.as_deref(), &body);
        error.retry_after = error.retry_after.or(retry_after);
        Err(scrubbed(error))
    }
}
