//! `HttpSender` with reqwest: one client, no redirects, no proxy, a bounded wait and a bounded
//! read, behind the egress guard. Names are resolved by [`GuardedResolver`], which hands the
//! client only addresses the policy allows, so the connection goes to an address that was
//! checked (no second lookup a rebinding DNS server could answer differently); URLs with a
//! literal address skip resolution and are checked before the request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use vigil_core::egress::{Denied, EgressPolicy};
use vigil_core::ports::notify::{REQUEST_TIMEOUT, RESPONSE_SNIPPET_BYTES};
use vigil_core::ports::{HttpAnswer, HttpPost, HttpSender, TransportError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Name resolution, the one piece of I/O the guard needs: the system resolver in production,
/// a fixed table in tests.
#[async_trait]
pub trait Lookup: Send + Sync {
    async fn lookup(&self, name: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (getaddrinfo, /etc/hosts first).
pub struct SystemLookup;

#[async_trait]
impl Lookup for SystemLookup {
    async fn lookup(&self, name: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((name, 0))
            .await?
            .map(|addr| addr.ip())
            .collect())
    }
}

/// A resolution refused by the egress guard; found again in the reqwest error's sources.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct EgressRefusal(Denied);

/// Resolves names and keeps only the addresses the policy allows.
struct GuardedResolver {
    policy: Arc<EgressPolicy>,
    lookup: Arc<dyn Lookup>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let lookup = self.lookup.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let found = lookup.lookup(&name).await?;
            let allowed = policy
                .filter_resolved(&name, found)
                .map_err(EgressRefusal)?;
            let addrs: Addrs = Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

pub struct ReqwestHttpSender {
    client: reqwest::Client,
    policy: Arc<EgressPolicy>,
    timeout: Duration,
}

impl ReqwestHttpSender {
    pub fn new(policy: EgressPolicy) -> Result<Self, TransportError> {
        Self::with_lookup(policy, REQUEST_TIMEOUT, Arc::new(SystemLookup))
    }

    /// A sender with another per-request bound and resolver (tests).
    pub fn with_lookup(
        policy: EgressPolicy,
        timeout: Duration,
        lookup: Arc<dyn Lookup>,
    ) -> Result<Self, TransportError> {
        crate::install_crypto_provider();
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect to the target itself, past the resolver's checks.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
                lookup,
            }))
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError::Other(e.to_string()))?;
        Ok(Self {
            client,
            policy,
            timeout,
        })
    }
}

/// `Retry-After` as delta-seconds or an HTTP date, as a wait from `now`.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or_default())
}

#[async_trait]
impl HttpSender for ReqwestHttpSender {
    async fn post(&self, request: HttpPost) -> Result<HttpAnswer, TransportError> {
        let url = reqwest::Url::parse(&request.url)
            .map_err(|e| TransportError::InvalidUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TransportError::InvalidUrl(format!(
                "the scheme {} is not http or https",
                url.scheme()
            )));
        }
        // Addresses in the URL are not resolved, so the resolver never sees them.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(TransportError::InvalidUrl("the URL has no host".into())),
        };
        if let Some(ip) = literal {
            self.policy
                .check_ip(ip)
                .map_err(|denied| TransportError::EgressDenied(denied.to_string()))?;
        }
        let mut builder = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut response = builder.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        // Read only the start of the body: a misbehaving endpoint may answer with megabytes.
        let mut snippet = Vec::new();
        while snippet.len() < RESPONSE_SNIPPET_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => snippet.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        snippet.truncate(RESPONSE_SNIPPET_BYTES);
        Ok(HttpAnswer {
            status,
            retry_after,
            body_snippet: String::from_utf8_lossy(&snippet).into_owned(),
        })
    }
}

impl ReqwestHttpSender {
    /// The error without its URL: a channel's URL may hold a token (Slack's does), and this
    /// text ends up in `last_error`.
    fn transport_error(&self, e: reqwest::Error) -> TransportError {
        let e = e.without_url();
        if let Some(refusal) = egress_refusal(&e) {
            TransportError::EgressDenied(refusal.0.to_string())
        } else if e.is_timeout() {
            TransportError::Timeout(self.timeout)
        } else if e.is_connect() {
            TransportError::Connect(e.to_string())
        } else if e.is_builder() {
            TransportError::InvalidUrl(e.to_string())
        } else {
            TransportError::Other(e.to_string())
        }
    }
}

/// The guard's refusal somewhere down the error's chain of sources.
fn egress_refusal<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e EgressRefusal> {
    let mut source = Some(e);
    while let Some(error) = source {
        if let Some(refusal) = error.downcast_ref::<EgressRefusal>() {
            return Some(refusal);
        }
        source = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A fixed name table in place of DNS, counting lookups.
    struct Table(Vec<(&'static str, Vec<IpAddr>)>, AtomicUsize);

    #[async_trait]
    impl Lookup for Table {
        async fn lookup(&self, name: &str) -> std::io::Result<Vec<IpAddr>> {
            self.1.fetch_add(1, Ordering::SeqCst);
            Ok(self
                .0
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, ips)| ips.clone())
                .unwrap_or_default())
        }
    }

    /// A loopback server answering every connection with `answer`; counts connections.
    async fn server(answer: String) -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut buffer = [0u8; 8192];
                let _ = stream.read(&mut buffer).await;
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        (port, connections)
    }

    fn ok() -> String {
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".into()
    }

    fn sender(
        allow: &str,
        names: Vec<(&'static str, Vec<IpAddr>)>,
    ) -> (ReqwestHttpSender, Arc<Table>) {
        let table = Arc::new(Table(names, AtomicUsize::new(0)));
        let policy = EgressPolicy::parse(allow).unwrap();
        let sender =
            ReqwestHttpSender::with_lookup(policy, Duration::from_secs(5), table.clone()).unwrap();
        (sender, table)
    }

    fn post(url: String) -> HttpPost {
        HttpPost {
            url,
            headers: Vec::new(),
            body: b"{}".to_vec(),
        }
    }

    fn loopback() -> Vec<IpAddr> {
        vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()]
    }

    #[tokio::test]
    async fn names_and_literals_that_reach_loopback_are_refused_before_connecting() {
        let (port, connections) = server(ok()).await;
        let (strict, _) = sender("", vec![("sink.test", loopback())]);
        for url in [
            format!("http://sink.test:{port}/"),
            format!("http://127.0.0.1:{port}/"),
            format!("http://2130706433:{port}/"),
            format!("http://0177.0.0.1:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            format!("http://[::ffff:7f00:1]:{port}/"),
            format!("http://[::1]:{port}/"),
        ] {
            let result = strict.post(post(url.clone())).await;
            assert!(
                matches!(&result, Err(TransportError::EgressDenied(_))),
                "{url}: {result:?}"
            );
        }
        // The system resolver: `localhost` is in /etc/hosts.
        let system = ReqwestHttpSender::new(EgressPolicy::default()).unwrap();
        let result = system.post(post(format!("http://localhost:{port}/"))).await;
        assert!(
            matches!(&result, Err(TransportError::EgressDenied(_))),
            "{result:?}"
        );
        assert_eq!(connections.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn allowed_targets_are_reached_at_the_address_checked_with_one_lookup() {
        let (port, connections) = server(ok()).await;
        let (allowed, table) = sender("127.0.0.0/8", vec![("sink.test", loopback())]);
        let answer = allowed
            .post(post(format!("http://sink.test:{port}/")))
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(table.1.load(Ordering::SeqCst), 1);
        let answer = allowed
            .post(post(format!("http://127.0.0.1:{port}/")))
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        let (by_name, _) = sender("sink.test", vec![("sink.test", loopback())]);
        let answer = by_name
            .post(post(format!("http://sink.test:{port}/")))
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let (target, reached) = server(ok()).await;
        let (redirecting, _) = server(format!(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{target}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ))
        .await;
        let (allowed, _) = sender("127.0.0.0/8", Vec::new());
        let answer = allowed
            .post(post(format!("http://127.0.0.1:{redirecting}/")))
            .await
            .unwrap();
        assert_eq!(answer.status, 302);
        assert_eq!(reached.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
