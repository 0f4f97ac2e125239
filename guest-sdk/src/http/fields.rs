//! Headers between the `http` crate's `HeaderMap` and `wasi:http`'s field lists. Pure.

use ::http::{HeaderMap, HeaderName, HeaderValue};

/// `headers` as the `(name, value)` list that `wasi:http` fields are made from, every value of a
/// repeated name kept in its order.
pub(crate) fn entries(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers.iter().map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec())).collect()
}

/// The `(name, value)` list of a response's fields as a `HeaderMap`. A field that is not valid
/// HTTP is left out: the host's HTTP stack parsed each, so none is expected.
pub(crate) fn header_map(entries: Vec<(String, Vec<u8>)>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(entries.len());
    for (name, value) in entries {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(&value)) {
            headers.append(name, value);
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_keep_every_value_in_order() {
        let mut headers = HeaderMap::new();
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("x-one", HeaderValue::from_static("one"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        let list = entries(&headers);
        let cookies: Vec<_> = list.iter().filter(|(n, _)| n == "set-cookie").map(|(_, v)| v.as_slice()).collect();
        assert_eq!(cookies, [b"a=1".as_slice(), b"b=2"]);
        assert_eq!(list.len(), 3);
        assert_eq!(header_map(list), headers);
    }

    #[test]
    fn names_are_lower_cased_and_invalid_fields_left_out() {
        let map = header_map(vec![
            ("Content-Type".into(), b"text/plain".to_vec()),
            ("bad name".into(), b"x".to_vec()),
            ("x-binary".into(), vec![0xE2, 0x82, 0xAC]),
            ("x-broken".into(), b"a\nb".to_vec()),
        ]);
        assert_eq!(map["content-type"], "text/plain");
        assert_eq!(map["x-binary"].as_bytes(), [0xE2, 0x82, 0xAC]);
        assert_eq!(map.len(), 2);
    }
}
