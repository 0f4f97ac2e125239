//! The URLs of requests: the absolute `http` and `https` URLs a guest passes, and the `Location`
//! of a redirect resolved against the URL that was redirected (RFC 3986, section 5). Pure: it
//! never touches the host.
//!
//! Paths are sent with their dot segments removed (`.`, `..`, and their `%2e` spellings), so that
//! `/v1/./jobs` matches a grant of `/v1/*`; the host refuses a path that still holds one against
//! any grant narrower than "every path". Characters a request line cannot carry (spaces, quotes,
//! non-ASCII) are percent-encoded; a `%` is taken as the start of an encoding already made.

use std::fmt;

use super::Error;

/// An absolute `http` or `https` URL, in the parts `wasi:http` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    https: bool,
    /// Lower case; an IPv6 address keeps its brackets.
    host: String,
    /// As given: none when the URL names none.
    port: Option<u16>,
    /// Starts with `/`, dot segments removed, percent-encoded.
    path: String,
    /// Without its `?`, percent-encoded.
    query: Option<String>,
}

impl Url {
    /// Parses an absolute `http` or `https` URL; a fragment (`#...`) is dropped, as clients never
    /// send it.
    pub(crate) fn parse(text: &str) -> Result<Url, Error> {
        let invalid = |reason: String| Error::InvalidUrl { url: text.to_owned(), reason };
        let Some((scheme, rest)) = split_scheme(text) else {
            return Err(invalid("it is not an absolute URL (one starts with http:// or https://)".into()));
        };
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(invalid(format!("the scheme '{scheme}' is not http or https"))),
        };
        let Some(rest) = rest.strip_prefix("//") else {
            return Err(invalid(format!("it names no host (expected '{scheme}://' then a host)")));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, reference) = rest.split_at(end);
        let (host, port) = parse_authority(authority).map_err(invalid)?;
        let (path, query) = split_reference(reference);
        let path = if path.is_empty() { "/".to_owned() } else { normalize_path(path) };
        Ok(Url { https, host, port, path, query: query.map(encode) })
    }

    /// The URL that `reference` (a redirect's `Location`) points to from this one: absolute
    /// (`https://other/x`), without a scheme (`//other/x`), an absolute path (`/x`), a relative
    /// path (`x`, `../x`), or a query (`?page=2`).
    pub(crate) fn join(&self, reference: &str) -> Result<Url, Error> {
        let reference = reference.trim();
        if split_scheme(reference).is_some() {
            return Url::parse(reference);
        }
        if reference.starts_with("//") {
            let scheme = if self.https { "https:" } else { "http:" };
            return Url::parse(&format!("{scheme}{reference}"));
        }
        let (path, query) = split_reference(reference);
        let (path, query) = if path.is_empty() {
            (self.path.clone(), query.map(encode).or_else(|| self.query.clone()))
        } else if path.starts_with('/') {
            (normalize_path(path), query.map(encode))
        } else {
            // The base path up to its last `/`, then the reference (RFC 3986, 5.2.3).
            let directory = &self.path[..=self.path.rfind('/').unwrap_or(0)];
            (normalize_path(&format!("{directory}{path}")), query.map(encode))
        };
        Ok(Url { path, query, ..self.clone() })
    }

    /// Whether the URL's scheme is `https`.
    pub(crate) fn is_https(&self) -> bool {
        self.https
    }

    /// `host[:port]`.
    pub(crate) fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// `/path[?query]`.
    pub(crate) fn path_with_query(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }

    /// Whether `other` has the same scheme, host and port (the scheme's default port counting
    /// as named): what decides whether credentials may follow a redirect.
    pub(crate) fn same_origin(&self, other: &Url) -> bool {
        self.https == other.https && self.host == other.host && self.effective_port() == other.effective_port()
    }

    fn effective_port(&self) -> u16 {
        self.port.unwrap_or(if self.https { 443 } else { 80 })
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path_with_query())
    }
}

/// `(scheme, rest)` when `text` starts with a scheme and a colon (RFC 3986, 3.1).
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = text.split_once(':')?;
    let mut chars = scheme.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_well = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (starts_well && rest_well).then_some((scheme, rest))
}

/// The host (lower case) and port of `authority`, or why they are not usable.
fn parse_authority(authority: &str) -> Result<(String, Option<u16>), String> {
    if authority.is_empty() {
        return Err("it names no host".into());
    }
    if authority.contains('@') {
        return Err("credentials in a URL are not sent; set an authorization header instead".into());
    }
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']').ok_or("the IPv6 address has no closing ']'")?;
        let (address, rest) = authority.split_at(close + 1);
        let inside = &address[1..address.len() - 1];
        if inside.is_empty() || !inside.chars().all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.')) {
            return Err(format!("'{address}' is not an IPv6 address"));
        }
        match rest {
            "" => (address, None),
            _ => match rest.strip_prefix(':') {
                Some(port) => (address, Some(port)),
                None => return Err(format!("unexpected '{rest}' after the IPv6 address")),
            },
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("it names no host".into());
    }
    if !host.starts_with('[') {
        if !host.is_ascii() {
            return Err(format!("the host '{host}' is not ASCII (write an international name in its xn-- form)"));
        }
        if let Some(bad) = host.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))) {
            return Err(format!("the host '{host}' holds '{bad}', which a host name cannot"));
        }
    }
    let port = match port {
        // `http://host:/` names the default port, as browsers read it.
        None | Some("") => None,
        Some(port) => match port.parse::<u16>() {
            Ok(number) if port.bytes().all(|b| b.is_ascii_digit()) => Some(number),
            _ => return Err(format!("the port '{port}' is not a number from 0 to 65535")),
        },
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// The path and the query of what follows the authority (or of a relative reference); a
/// fragment is dropped.
fn split_reference(reference: &str) -> (&str, Option<&str>) {
    let reference = reference.split_once('#').map_or(reference, |(before, _)| before);
    match reference.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (reference, None),
    }
}

/// `path` (which starts with `/`) with its dot segments removed and percent-encoded.
fn normalize_path(path: &str) -> String {
    encode(&remove_dot_segments(path))
}

/// RFC 3986, 5.2.4, also for the `%2e` spellings of the dots (as browsers do): `/a/b/../c` is
/// `/a/c`, and a path that ends in a dot segment ends with `/`.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let last = segments.len() - 1;
    let mut output: Vec<&str> = Vec::with_capacity(segments.len());
    for (index, segment) in segments.iter().enumerate() {
        let lower = segment.to_ascii_lowercase();
        match lower.as_str() {
            "." | "%2e" => {}
            ".." | ".%2e" | "%2e." | "%2e%2e" => {
                output.pop();
            }
            _ => {
                output.push(segment);
                continue;
            }
        }
        if index == last {
            output.push("");
        }
    }
    format!("/{}", output.join("/"))
}

/// `text` with the characters that a request line cannot carry percent-encoded (controls,
/// space, `"`, `<`, `>`, `` ` ``, `{`, `}`, DEL and every non-ASCII character, as UTF-8).
fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for c in text.chars() {
        let plain = c.is_ascii_graphic() && !matches!(c, '"' | '<' | '>' | '`' | '{' | '}');
        if plain {
            encoded.push(c);
        } else {
            let mut utf8 = [0; 4];
            for byte in c.encode_utf8(&mut utf8).bytes() {
                encoded += &format!("%{byte:02X}");
            }
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn reason(text: &str) -> String {
        match Url::parse(text) {
            Err(Error::InvalidUrl { url, reason }) => {
                assert_eq!(url, text);
                reason
            }
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn parses_the_parts_wasi_http_takes() {
        let u = url("https://API.Example.com:8443/v1/jobs?state=open&n=2#top");
        assert!(u.is_https());
        assert_eq!(u.authority(), "api.example.com:8443");
        assert_eq!(u.path_with_query(), "/v1/jobs?state=open&n=2");
        assert_eq!(u.to_string(), "https://api.example.com:8443/v1/jobs?state=open&n=2");

        let plain = url("HTTP://127.0.0.1");
        assert!(!plain.is_https());
        assert_eq!(plain.authority(), "127.0.0.1");
        assert_eq!(plain.path_with_query(), "/");
        assert_eq!(url("http://h?x").path_with_query(), "/?x");
        assert_eq!(url("http://[::1]:8080/a").authority(), "[::1]:8080");
        assert_eq!(url("http://[::1]").authority(), "[::1]");
        assert_eq!(url("http://h:/a").authority(), "h");
    }

    #[test]
    fn refuses_what_is_not_an_absolute_http_url() {
        assert!(reason("/relative/path").contains("not an absolute URL"));
        assert!(reason("api.example.com/x").contains("not an absolute URL"));
        assert!(reason("ftp://files.example.com/x").contains("'ftp' is not http or https"));
        assert!(reason("https:api.example.com").contains("names no host"));
        assert!(reason("https:///x").contains("names no host"));
        assert!(reason("https://user:secret@api.example.com/").contains("credentials"));
        assert!(reason("https://api.example.com:99999/").contains("port '99999'"));
        assert!(reason("https://api.example.com:+80/").contains("port '+80'"));
        assert!(reason("https://a b/").contains("holds ' '"));
        assert!(reason("https://bücher.example/").contains("xn--"));
        assert!(reason("https://[::1/").contains("closing ']'"));
        assert!(reason("https://[zz]/").contains("not an IPv6 address"));
        assert!(reason("https://[::1]x/").contains("after the IPv6 address"));
    }

    #[test]
    fn encodes_what_a_request_line_cannot_carry() {
        assert_eq!(url("http://h/a b/\"q\"/ü?name=é x").path_with_query(), "/a%20b/%22q%22/%C3%BC?name=%C3%A9%20x");
        // Already encoded: left as it is.
        assert_eq!(url("http://h/a%20b?x=%2F").path_with_query(), "/a%20b?x=%2F");
    }

    #[test]
    fn removes_dot_segments() {
        for (path, expected) in [
            ("/a/b/c/./../../g", "/a/g"),
            ("/a/b/..", "/a/"),
            ("/a/./", "/a/"),
            ("/..", "/"),
            ("/../a", "/a"),
            ("/a//b", "/a//b"),
            ("/v1/%2E%2e/admin", "/admin"),
            ("/v1/.%2e/admin", "/admin"),
            ("/v1/%2e/jobs", "/v1/jobs"),
            ("/a..b/.c", "/a..b/.c"),
        ] {
            assert_eq!(remove_dot_segments(path), expected, "{path}");
        }
        assert_eq!(url("https://h/v1/./jobs/../jobs").path_with_query(), "/v1/jobs");
    }

    /// RFC 3986, 5.4.1 and 5.4.2 (the references that an HTTP URL can take), from
    /// `http://a/b/c/d;p?q`.
    #[test]
    fn resolves_locations_as_rfc_3986_does() {
        let base = url("http://a/b/c/d;p?q");
        for (reference, expected) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            (";x", "http://a/b/c/;x"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("g;x=1/../y", "http://a/b/c/y"),
            ("g?y/./x", "http://a/b/c/g?y/./x"),
            ("https://other.example:8443/x?y", "https://other.example:8443/x?y"),
            ("  /padded  ", "http://a/padded"),
        ] {
            let joined = base.join(reference).unwrap_or_else(|e| panic!("{reference:?}: {e}"));
            assert_eq!(joined.to_string(), expected, "{reference:?}");
        }
    }

    #[test]
    fn a_scheme_relative_location_keeps_the_scheme() {
        assert_eq!(url("https://a/x").join("//b:8443/y").unwrap().to_string(), "https://b:8443/y");
    }

    #[test]
    fn a_location_elsewhere_than_http_is_refused() {
        let error = url("https://a/x").join("ftp://files/y").unwrap_err();
        assert!(matches!(&error, Error::InvalidUrl { url, .. } if url == "ftp://files/y"), "{error:?}");
        assert!(url("https://a/x").join("https://user@b/").is_err());
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let a = url("https://api.example.com/a");
        assert!(a.same_origin(&url("https://API.example.com:443/b?c")));
        assert!(!a.same_origin(&url("http://api.example.com/a")));
        assert!(!a.same_origin(&url("https://api.example.com:8443/a")));
        assert!(!a.same_origin(&url("https://evil.example.com/a")));
        assert!(url("http://h/").same_origin(&url("http://h:80/")));
    }
}
