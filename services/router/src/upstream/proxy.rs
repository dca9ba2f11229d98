//! The environment's proxies (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, upper or
//! lower case), for the trusted client only, as reqwest honoured them: an https destination
//! is reached through a CONNECT tunnel (TLS end to end), a plain-http one is forwarded by the
//! proxy (the request in absolute form, with the proxy's credentials if its URL has some).
//! The guarded client never uses one: the egress policy must see the address connected to.

use std::sync::Arc;

use http::uri::Scheme;
use http::{HeaderValue, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use tower_service::Service;

use super::client::Io;
use super::egress::{BoxError, Resolver};

/// The variables that name a proxy; without any, no proxy is used.
const PROXY_VARIABLES: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

/// Which destinations go through which proxy, and how a proxy is reached.
pub struct Proxies {
    matcher: Matcher,
    /// To the proxy itself: TCP, and TLS for an https:// proxy (HTTP/1.1, as CONNECT needs).
    connector: HttpsConnector<HttpConnector<Resolver>>,
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The matcher's proxy URLs may carry credentials.
        f.debug_struct("Proxies").finish_non_exhaustive()
    }
}

impl Proxies {
    /// The proxies the environment names, if any.
    pub fn from_env(tcp: HttpConnector<Resolver>, tls: &rustls::ClientConfig) -> Option<Self> {
        let named = PROXY_VARIABLES
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
        named.then(|| Self::new(Matcher::from_env(), tcp, tls))
    }

    /// The proxies `matcher` names.
    pub fn new(matcher: Matcher, tcp: HttpConnector<Resolver>, tls: &rustls::ClientConfig) -> Self {
        let mut tls = tls.clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            matcher,
            connector: HttpsConnector::from((tcp, tls)),
        }
    }

    /// The proxy for `dst`, unless `NO_PROXY` (or no variable for its scheme) says none.
    pub fn intercept(&self, dst: &Uri) -> Option<Intercept> {
        self.matcher.intercept(dst)
    }

    /// The `proxy-authorization` a plain-http request to `uri` carries when a proxy with
    /// credentials forwards it (a tunnel carries them in its CONNECT instead).
    pub fn forwarding_auth(&self, uri: &Uri) -> Option<HeaderValue> {
        if uri.scheme() != Some(&Scheme::HTTP) {
            return None;
        }
        self.intercept(uri)?.basic_auth().cloned()
    }

    /// A connection for `dst` through the proxy `via`.
    pub async fn connect(self: Arc<Self>, dst: Uri, via: Intercept) -> Result<Io, BoxError> {
        if dst.scheme() == Some(&Scheme::HTTPS) {
            let mut tunnel = Tunnel::new(via.uri().clone(), self.connector.clone());
            if let Some(auth) = via.basic_auth() {
                tunnel = tunnel.with_auth(auth.clone());
            }
            let inner = tunnel.call(dst).await?;
            return Ok(Io {
                inner,
                forwarded: false,
            });
        }
        let inner = self.connector.clone().call(via.uri().clone()).await?;
        Ok(Io {
            inner,
            forwarded: true,
        })
    }
}
