//! Name resolution for the HTTP client: the system resolver (`getaddrinfo`, as reqwest's
//! default), except that names under `.invalid` fail at once, as RFC 6761 §6.4 asks of
//! resolver libraries, instead of waiting on a DNS server that may not be reachable.
//!
//! Owns only that rule. The whole connect, resolution included, is bounded by the client's
//! connect timeout (`client::build_http`), so a resolver that hangs cannot hold a run.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The system resolver with the `.invalid` rule.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemResolver;

/// Whether `host` is `invalid` or a name under it (RFC 6761 §6.4: never resolves).
pub(crate) fn is_invalid_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "invalid" || host.ends_with(".invalid")
}

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            if is_invalid_name(&host) {
                return Err(format!("the name `{host}` does not resolve (.invalid names never do)").into());
            }
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| format!("the name `{host}` does not resolve: {e}"))?
                .collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_under_invalid_are_recognised() {
        assert!(is_invalid_name("portal.invalid"));
        assert!(is_invalid_name("A.B.INVALID."));
        assert!(is_invalid_name("invalid"));
        assert!(!is_invalid_name("invalid.example.com"));
        assert!(!is_invalid_name("bitrix24.ru"));
    }
}
