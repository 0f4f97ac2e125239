//! HTTP grants: the patterns an activity's outgoing requests must match, and the decision for one
//! request. Deny by default: an activity with no grant reaches nothing.
//!
//! A grant reads `METHOD SCHEME://HOST[:PORT][PATH]`:
//! - `METHOD` is one method (`GET`), several (`GET,HEAD`) or `*` for any;
//! - `SCHEME` is `http` or `https`;
//! - `HOST` is a name (`api.example.com`), a subdomain pattern (`*.example.com`: any name that
//!   ends with `.example.com`, not `example.com` itself), an IPv4 address or a bracketed IPv6
//!   one (`[::1]`);
//! - `PORT` is a number or `*`; without it, the scheme's default (80 or 443);
//! - `PATH` is an exact path (`/jobs`) or a prefix ending in `*` (`/v1/*`); without it, any
//!   path. The query string is never matched.
//!
//! A path is compared as the guest sent it. Because a server may resolve `/v1/../admin` or
//! `/v1/%2e%2e/admin` to a path outside `/v1/`, a request whose path holds a dot segment or an
//! encoded `.`, `/` or `\` matches only a grant that allows any path.
//!
//! This module owns the grammar and the decision; it never sends anything.

use std::fmt;
use std::str::FromStr;

/// One allowed pattern of requests. See the module docs for the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGrant {
    methods: Option<Vec<String>>,
    https: bool,
    host: HostPattern,
    port: Option<u16>,
    any_port: bool,
    path: PathPattern,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.suffix`: stored as `.suffix`.
    Subdomains(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathPattern {
    Any,
    Exact(String),
    Prefix(String),
}

/// Why a text is not a grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad HTTP grant `{grant}`: {reason} (a grant reads `METHOD SCHEME://HOST[:PORT][PATH]`, for example `GET https://api.example.com/v1/*` or `POST http://127.0.0.1:8080/jobs`)"
)]
pub struct GrantError {
    /// The text as given.
    pub grant: String,
    /// What is wrong with it.
    pub reason: String,
}

/// An outgoing request, as far as grants look at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// The method, upper case.
    pub method: String,
    /// Whether the scheme is `https` (otherwise `http`).
    pub https: bool,
    /// The host, lower case, without brackets for IPv6 and without a trailing dot.
    pub host: String,
    /// The port, the scheme's default when the request names none.
    pub port: u16,
    /// The path, without the query.
    pub path: String,
}

impl HttpTarget {
    /// The target of a request to `uri` with `method`, or why it has none (no host, a scheme
    /// other than http and https).
    pub fn of(method: &str, uri: &http::Uri) -> Result<HttpTarget, String> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(other) => return Err(format!("the scheme '{other}' is not HTTP")),
            None => return Err("the request names no scheme".into()),
        };
        let host = uri.host().ok_or("the request names no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = if uri.path().is_empty() { "/".to_string() } else { uri.path().to_string() };
        Ok(HttpTarget { method: method.to_ascii_uppercase(), https, host, port, path })
    }

    /// The narrowest grant that allows this request: what a denial suggests.
    pub fn exact_grant(&self) -> String {
        format!("{} {}", self.method, self.url())
    }

    /// `scheme://host[:port]/path`, the port only where it is not the scheme's default.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let default = if self.https { 443 } else { 80 };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let port = if self.port == default { String::new() } else { format!(":{}", self.port) };
        format!("{scheme}://{host}{port}{}", self.path)
    }

    /// Whether the path could be read by a server as a path outside a prefix it seems to be in.
    fn path_is_ambiguous(&self) -> bool {
        let lower = self.path.to_ascii_lowercase();
        lower.split('/').any(|segment| segment == "." || segment == "..")
            || ["%2e", "%2f", "%5c", "\\"].iter().any(|bad| lower.contains(bad))
    }
}

impl fmt::Display for HttpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url())
    }
}

impl HttpGrant {
    /// Whether this grant allows `target`.
    pub fn allows(&self, target: &HttpTarget) -> bool {
        let method = self.methods.as_ref().is_none_or(|methods| methods.contains(&target.method));
        let host = match &self.host {
            HostPattern::Exact(host) => *host == target.host,
            HostPattern::Subdomains(suffix) => {
                target.host.len() > suffix.len() && target.host.ends_with(suffix.as_str())
            }
        };
        let default = if self.https { 443 } else { 80 };
        let port = self.any_port || self.port.unwrap_or(default) == target.port;
        let path = match &self.path {
            PathPattern::Any => true,
            _ if target.path_is_ambiguous() => false,
            PathPattern::Exact(path) => *path == target.path,
            PathPattern::Prefix(prefix) => target.path.starts_with(prefix.as_str()),
        };
        method && self.https == target.https && host && port && path
    }
}

impl fmt::Display for HttpGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The methods a grant may name.
const STANDARD_METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"];

impl FromStr for HttpGrant {
    type Err = GrantError;

    fn from_str(text: &str) -> Result<Self, GrantError> {
        let bad = |reason: &str| GrantError { grant: text.to_string(), reason: reason.to_string() };
        let trimmed = text.trim();
        let (method_text, url) = trimmed.split_once(char::is_whitespace).ok_or_else(|| bad("it names no method"))?;
        let methods = match method_text {
            "*" => None,
            list => {
                let methods: Vec<String> = list.split(',').map(|m| m.trim().to_string()).collect();
                // A typo (`GTE`) would be a valid extension method that no client sends: a grant
                // that allows nothing, silently. Grants name the standard methods only.
                if let Some(unknown) = methods.iter().find(|m| !STANDARD_METHODS.contains(&m.as_str())) {
                    return Err(bad(&format!(
                        "`{unknown}` is not a method a grant can name: use {}, or * for any",
                        STANDARD_METHODS.join(", ")
                    )));
                }
                Some(methods)
            }
        };
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("it names no scheme (http:// or https://)"))?;
        let https = match scheme {
            "https" => true,
            "http" => false,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("a grant names no user or password"));
        }
        let (host, port) = split_port(authority).map_err(|reason| bad(&reason))?;
        let host = host.to_ascii_lowercase();
        let host = if let Some(suffix) = host.strip_prefix("*.") {
            if suffix.is_empty() || suffix.contains('*') {
                return Err(bad("a host pattern is `*.` followed by a domain, such as *.example.com"));
            }
            HostPattern::Subdomains(format!(".{suffix}"))
        } else if host.is_empty() {
            return Err(bad("it names no host"));
        } else if host.contains('*') {
            return Err(bad("`*` may only stand for the leftmost labels of a host, as in *.example.com"));
        } else {
            HostPattern::Exact(host.trim_end_matches('.').to_string())
        };
        let (port, any_port) = match port {
            None => (None, false),
            Some("*") => (None, true),
            Some(port) => (Some(port.parse::<u16>().map_err(|_| bad("the port must be a number or *"))?), false),
        };
        if path.contains('?') || path.contains('#') {
            return Err(bad("a grant matches paths only, with no query or fragment"));
        }
        let path = match path {
            "" | "/*" => PathPattern::Any,
            path if path[..path.len() - 1].contains('*') => {
                return Err(bad("`*` may only end a path, as in /v1/*"));
            }
            path => match path.strip_suffix('*') {
                Some(prefix) => PathPattern::Prefix(prefix.to_string()),
                None => PathPattern::Exact(path.to_string()),
            },
        };
        Ok(HttpGrant { methods, https, host, port, any_port, path, text: format!("{method_text} {url}") })
    }
}

/// `host[:port]`, `[v6]` or `[v6]:port`, split.
fn split_port(authority: &str) -> Result<(String, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("an IPv6 address is closed by ]")?;
        return match after {
            "" => Ok((host.to_string(), None)),
            port => Ok((host.to_string(), Some(port.strip_prefix(':').ok_or("a port follows a colon")?))),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_string(), Some(port))),
        None => Ok((authority.to_string(), None)),
    }
}

/// The grants of an activity, and the decision for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpGrants {
    grants: Vec<HttpGrant>,
}

impl HttpGrants {
    /// These grants.
    pub fn new(grants: Vec<HttpGrant>) -> Self {
        HttpGrants { grants }
    }

    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// The grants, in order.
    pub fn iter(&self) -> impl Iterator<Item = &HttpGrant> {
        self.grants.iter()
    }

    /// The first grant that allows `target`, or the words of its denial for `activity`.
    pub fn check(&self, activity: &str, target: &HttpTarget) -> Result<&HttpGrant, String> {
        if let Some(grant) = self.grants.iter().find(|grant| grant.allows(target)) {
            return Ok(grant);
        }
        let granted = if self.grants.is_empty() {
            "it has no HTTP grant".to_string()
        } else {
            let list: Vec<String> = self.grants.iter().map(|g| format!("`{g}`")).collect();
            format!("its grants are {}", list.join(", "))
        };
        let ambiguous = if target.path_is_ambiguous() {
            " (its path holds a dot segment or an encoded separator, which only a grant of any path allows)"
        } else {
            ""
        };
        Err(format!(
            "the request {target} of activity '{activity}' is not granted{ambiguous}: {granted}; the grant `{}` would allow it",
            target.exact_grant()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(method: &str, url: &str) -> HttpTarget {
        HttpTarget::of(method, &url.parse().unwrap()).unwrap()
    }

    fn grant(text: &str) -> HttpGrant {
        text.parse().unwrap()
    }

    #[test]
    fn a_grant_matches_its_method_scheme_host_port_and_path() {
        let g = grant("GET https://api.example.com/v1/*");
        assert!(g.allows(&target("GET", "https://api.example.com/v1/charges?limit=3")));
        assert!(g.allows(&target("get", "https://API.example.com.:443/v1/")));
        assert!(!g.allows(&target("POST", "https://api.example.com/v1/charges")), "method");
        assert!(!g.allows(&target("GET", "http://api.example.com/v1/charges")), "scheme");
        assert!(!g.allows(&target("GET", "https://api.example.com:8443/v1/charges")), "port");
        assert!(!g.allows(&target("GET", "https://api.example.com/v2/charges")), "path");
        assert!(!g.allows(&target("GET", "https://api.example.com/v1")), "the prefix is /v1/");
        assert!(!g.allows(&target("GET", "https://evil.com/v1/x")), "host");
    }

    #[test]
    fn subdomain_patterns_ports_and_exact_paths() {
        let g = grant("GET,HEAD https://*.example.com");
        assert!(g.allows(&target("HEAD", "https://a.b.example.com/anything")));
        assert!(!g.allows(&target("GET", "https://example.com/")), "the bare domain is not a subdomain");
        assert!(!g.allows(&target("GET", "https://badexample.com/")));
        let g = grant("POST http://127.0.0.1:8080/jobs");
        assert!(g.allows(&target("POST", "http://127.0.0.1:8080/jobs")));
        assert!(!g.allows(&target("POST", "http://127.0.0.1:8080/jobs/1")));
        assert!(!g.allows(&target("POST", "http://127.0.0.1/jobs")), "port 80 is not 8080");
        let g = grant("* http://[::1]:*/*");
        assert!(g.allows(&target("DELETE", "http://[::1]:9/x")));
        assert!(!g.allows(&target("DELETE", "http://127.0.0.1:9/x")));
    }

    #[test]
    fn paths_that_a_server_could_read_outside_the_prefix_match_only_any_path() {
        let g = grant("GET https://api.example.com/v1/*");
        for path in ["/v1/../admin", "/v1/./x", "/v1/%2E%2E/admin", "/v1/a%2fb", "/v1/a%5Cb"] {
            assert!(!g.allows(&target("GET", &format!("https://api.example.com{path}"))), "{path}");
        }
        assert!(grant("GET https://api.example.com").allows(&target("GET", "https://api.example.com/v1/../admin")));
    }

    #[test]
    fn bad_grants_say_what_is_wrong() {
        for (text, reason) in [
            ("https://api.example.com", "no method"),
            ("get https://x", "not a method"),
            ("GTE https://x", "use GET, HEAD"),
            ("GET ftp://x/", "http or https"),
            ("GET api.example.com/", "no scheme"),
            ("GET https://a*.example.com/", "leftmost"),
            ("GET https://x:99999/", "port"),
            ("GET https://x/v1/*/y", "end a path"),
            ("GET https://x/v1?y=1", "no query"),
            ("GET https://user@x/", "no user"),
            ("GET https:///", "no host"),
        ] {
            let error = text.parse::<HttpGrant>().unwrap_err();
            assert!(error.reason.contains(reason), "{text}: {error}");
            assert!(error.to_string().contains("METHOD SCHEME://HOST"), "{error}");
        }
    }

    #[test]
    fn a_denial_names_the_request_the_grants_and_the_grant_that_would_allow_it() {
        let grants = HttpGrants::new(vec![grant("GET https://api.example.com/v1/*")]);
        let denial = grants.check("charge", &target("POST", "http://127.0.0.1:4000/jobs?x=secret")).unwrap_err();
        assert_eq!(
            denial,
            "the request POST http://127.0.0.1:4000/jobs of activity 'charge' is not granted: its grants are \
             `GET https://api.example.com/v1/*`; the grant `POST http://127.0.0.1:4000/jobs` would allow it"
        );
        assert!(!denial.contains("secret"), "the query is never shown");
        let none = HttpGrants::default().check("charge", &target("GET", "https://x.org/")).unwrap_err();
        assert!(none.contains("it has no HTTP grant"), "{none}");
        assert!(grants.check("charge", &target("GET", "https://api.example.com/v1/x")).is_ok());
    }
}
