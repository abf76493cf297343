//! Where a tenant's apps send: the hook URLs of one tenant under the address Vigil is reached at
//! (`VIGIL_PUBLIC_URL`, or the origin a request came to).

/// The hook URLs of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestUrls {
    /// `POST /hooks/{tenant}/events`: domain events (the ingest token).
    pub events: String,
    /// `POST /hooks/{tenant}/runs`: finished automation runs (the ingest token).
    pub runs: String,
    /// `POST /hooks/{tenant}/stripe`: Stripe's webhook endpoint (Stripe's signature).
    pub stripe: String,
}

impl IngestUrls {
    pub fn new(base: &str, tenant: &str) -> Self {
        let base = base.trim_end_matches('/');
        let hook = |what: &str| format!("{base}/hooks/{tenant}/{what}");
        Self {
            events: hook("events"),
            runs: hook("runs"),
            stripe: hook("stripe"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_hook_sits_under_the_base_once() {
        // GIVEN a public URL written with a trailing slash
        // WHEN a tenant's URLs are made THEN no path has a double slash
        let urls = IngestUrls::new("https://vigil.example.com/", "tnt_1");
        assert_eq!(urls.events, "https://vigil.example.com/hooks/tnt_1/events");
        assert_eq!(urls.runs, "https://vigil.example.com/hooks/tnt_1/runs");
        assert_eq!(urls.stripe, "https://vigil.example.com/hooks/tnt_1/stripe");
    }
}
