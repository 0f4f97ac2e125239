//! Request bodies: bytes held in memory, or a reader streamed to the host in chunks.

use std::fmt;
use std::io::Read;

/// The body of a request: empty, bytes (from a `Vec<u8>`, a `String`, a `&str`, a `&[u8]`), or a
/// [`std::io::Read`] streamed to the host in chunks as the request is sent, so that it is never
/// held in memory whole.
///
/// ```no_run
/// use reprise_sdk::http::{self, Body};
/// # fn f() -> Result<(), http::Error> {
/// let file = std::io::Cursor::new(vec![0u8; 1 << 20]);
/// let response = http::put("https://storage.example.com/blobs/1")
///     .body(Body::from_reader_with_length(file, 1 << 20))
///     .send()?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct Body {
    pub(crate) kind: BodyKind,
}

#[derive(Default)]
pub(crate) enum BodyKind {
    #[default]
    Empty,
    Bytes(Vec<u8>),
    Reader {
        reader: Box<dyn Read>,
        length: Option<u64>,
    },
}

impl Body {
    /// No body.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A body read from `reader` while the request is sent, in chunks of 64 KiB, of a length
    /// unknown in advance (sent with chunked transfer-coding).
    pub fn from_reader(reader: impl Read + 'static) -> Self {
        Self { kind: BodyKind::Reader { reader: Box::new(reader), length: None } }
    }

    /// A body read from `reader` while the request is sent, of exactly `length` bytes (its
    /// `content-length`): the host fails the request if the reader gives more or fewer.
    pub fn from_reader_with_length(reader: impl Read + 'static, length: u64) -> Self {
        Self { kind: BodyKind::Reader { reader: Box::new(reader), length: Some(length) } }
    }

    /// Whether there is no body to send (an empty `Vec` counts as a body of length 0).
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self.kind, BodyKind::Empty)
    }

    /// The `content-length` the body has, if it is known before it is sent.
    pub(crate) fn length(&self) -> Option<u64> {
        match &self.kind {
            BodyKind::Empty => None,
            BodyKind::Bytes(bytes) => Some(bytes.len() as u64),
            BodyKind::Reader { length, .. } => *length,
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BodyKind::Empty => f.write_str("Body::Empty"),
            BodyKind::Bytes(bytes) => write!(f, "Body::Bytes({} bytes)", bytes.len()),
            BodyKind::Reader { length: Some(length), .. } => write!(f, "Body::Reader({length} bytes)"),
            BodyKind::Reader { length: None, .. } => f.write_str("Body::Reader(chunked)"),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self { kind: BodyKind::Bytes(bytes) }
    }
}

impl From<&[u8]> for Body {
    fn from(bytes: &[u8]) -> Self {
        bytes.to_vec().into()
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        text.into_bytes().into()
    }
}

impl From<&str> for Body {
    fn from(text: &str) -> Self {
        text.as_bytes().into()
    }
}
