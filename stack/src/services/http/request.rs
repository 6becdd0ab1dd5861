//! Request heads (RFC 9112 2-3, 6; RFC 9110 9): the request line and header fields through
//! `httparse`, then what they mean for us: method, path, framing of the body, persistence.

use super::{Config, Status};

/// Header field lines a request may have.
const MAX_HEADERS: usize = 64;

/// Request methods, as far as routing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Head,
    Post,
    /// A method of RFC 9110 9.3 (or PATCH) that no resource here allows: 405.
    Known,
    /// A method we do not know: 501 (RFC 9110 9.1).
    Unknown,
}

impl Method {
    fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH" => Method::Known,
            _ => Method::Unknown,
        }
    }
}

/// How the request body is delimited (RFC 9112 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) method: Method,
    /// The path of the target (query removed), still percent-encoded.
    pub(super) path: String,
    /// The client asked to close, or speaks HTTP/1.0 without keep-alive.
    pub(super) close: bool,
    /// HTTP/1.0 with `Connection: keep-alive`: our answer says keep-alive too.
    pub(super) keep_alive_1_0: bool,
    pub(super) framing: Framing,
    pub(super) expect_continue: bool,
    /// The `Accept` field names `text/html`: a browser, which gets the dashboard at `/`.
    pub(super) wants_html: bool,
}

/// An error found while reading a request: answered, then the connection is closed, since the
/// framing of what follows cannot be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Reject {
    pub(super) status: Status,
    pub(super) detail: &'static str,
}

pub(super) const fn reject(status: Status, detail: &'static str) -> Reject {
    Reject { status, detail }
}

/// The result of looking at the bytes received so far for a request head.
#[derive(Debug)]
pub(super) enum Head {
    /// Not complete yet.
    Partial,
    /// A head of `len` bytes.
    Complete(usize, Request),
    Bad(Reject),
}

/// Parses a request head from the start of `buf`.
pub(super) fn parse_head(buf: &[u8], config: &Config) -> Head {
    // RFC 9112 2.2: "a server that is expecting to receive and parse a request-line SHOULD
    // ignore at least one empty line (CRLF) received prior to the request-line" (httparse does
    // the same).
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let rest = buf.get(start..).unwrap_or_default();
    match rest.iter().position(|&b| b == b'\n') {
        None => {
            // RFC 9112 3: "A server that receives a request-target longer than any URI it
            // wishes to parse MUST respond with a 414 (URI Too Long) status code."
            if rest.len() > config.max_uri_bytes + 32 {
                return Head::Bad(reject(Status::UriTooLong, "request line too long"));
            }
        }
        Some(end) => {
            let line = rest.get(..end).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let mut parts = line.split(|&b| b == b' ');
            let (_, target, version) = (parts.next(), parts.next(), parts.next());
            if target.is_some_and(|t| t.len() > config.max_uri_bytes) {
                return Head::Bad(reject(Status::UriTooLong, "request target too long"));
            }
            // RFC 9110 15.6.6: 505 when the server does not support the major version.
            if let Some(&[b'H', b'T', b'T', b'P', b'/', major, b'.', minor]) = version {
                if major.is_ascii_digit()
                    && minor.is_ascii_digit()
                    && !(major == b'1' && (minor == b'0' || minor == b'1'))
                {
                    return Head::Bad(reject(
                        Status::VersionNotSupported,
                        "only HTTP/1.0 and HTTP/1.1 are spoken here",
                    ));
                }
            }
        }
    }

    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            // RFC 6585 5: 431 when the header fields are too large.
            if buf.len() >= config.max_header_bytes {
                return Head::Bad(reject(
                    Status::HeaderFieldsTooLarge,
                    "request head too large",
                ));
            }
            return Head::Partial;
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Head::Bad(reject(
                Status::HeaderFieldsTooLarge,
                "too many header fields",
            ))
        }
        Err(httparse::Error::Version) => {
            return Head::Bad(reject(Status::BadRequest, "malformed HTTP version"))
        }
        Err(_) => return Head::Bad(reject(Status::BadRequest, "malformed request head")),
    };
    if len > config.max_header_bytes {
        return Head::Bad(reject(
            Status::HeaderFieldsTooLarge,
            "request head too large",
        ));
    }
    match interpret(&req) {
        Ok(r) => Head::Complete(len, r),
        Err(e) => Head::Bad(e),
    }
}

/// Reads the meaning out of a syntactically valid head.
fn interpret(req: &httparse::Request<'_, '_>) -> Result<Request, Reject> {
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(reject(Status::BadRequest, "incomplete request line"));
    };
    let mut hosts = 0;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut codings = 0;
    let mut close = false;
    let mut keep_alive = false;
    let mut expect_continue = false;
    let mut wants_html = false;
    for h in req.headers.iter() {
        let value = h.value;
        if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if h.name.eq_ignore_ascii_case("content-length") {
            // RFC 9110 8.6: Content-Length = 1*DIGIT; a list of identical values may be taken
            // as one; anything else is an unrecoverable framing error (RFC 9112 6.3 point 5).
            for item in value.split(|&b| b == b',') {
                let n = parse_decimal(trim(item))
                    .ok_or(reject(Status::BadRequest, "invalid Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(reject(Status::BadRequest, "conflicting Content-Length"));
                }
                length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            for item in value.split(|&b| b == b',') {
                let item = trim(item);
                if item.is_empty() {
                    continue;
                }
                codings += 1;
                // Only the last coding matters for framing; remember whether it is chunked.
                chunked = item.eq_ignore_ascii_case(b"chunked");
            }
            if codings == 0 {
                return Err(reject(Status::BadRequest, "empty Transfer-Encoding"));
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            for item in value.split(|&b| b == b',') {
                let item = trim(item);
                close |= item.eq_ignore_ascii_case(b"close");
                keep_alive |= item.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if h.name.eq_ignore_ascii_case("expect") {
            expect_continue |= trim(value).eq_ignore_ascii_case(b"100-continue");
        } else if h.name.eq_ignore_ascii_case("accept") {
            wants_html |= value.split(|&b| b == b',').any(|item| {
                let media = item.split(|&b| b == b';').next().unwrap_or(&[]);
                trim(media).eq_ignore_ascii_case(b"text/html")
            });
        }
    }
    // RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
    // request message that lacks a Host header field and to any request message that contains
    // more than one Host header field line".
    if (minor == 1 && hosts == 0) || hosts > 1 {
        return Err(reject(Status::BadRequest, "missing or repeated Host"));
    }
    let framing = if codings > 0 {
        // RFC 9112 6.1: "A server or client that receives an HTTP/1.0 message containing a
        // Transfer-Encoding header field MUST treat the message as if the framing is faulty".
        if minor == 0 {
            return Err(reject(
                Status::BadRequest,
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        // RFC 9112 6.1: a server "MAY reject a request that contains both Content-Length and
        // Transfer-Encoding". We do: it is the shape of request smuggling.
        if length.is_some() {
            return Err(reject(
                Status::BadRequest,
                "both Content-Length and Transfer-Encoding",
            ));
        }
        // RFC 9112 6.3 point 4: "If a Transfer-Encoding header field is present in a request
        // and the chunked transfer coding is not the final encoding, [...] the server MUST
        // respond with the 400 (Bad Request) status code and then close the connection."
        if !chunked {
            return Err(reject(
                Status::BadRequest,
                "chunked is not the final coding",
            ));
        }
        // RFC 9112 6.1: "A server that receives a request message with a transfer coding it
        // does not understand SHOULD respond with 501 (Not Implemented)."
        if codings > 1 {
            return Err(reject(
                Status::NotImplemented,
                "transfer codings other than chunked",
            ));
        }
        Framing::Chunked
    } else {
        match length {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    };
    let path = request_path(target)?;
    // RFC 9112 9.3: HTTP/1.1 connections persist unless "close" is sent; HTTP/1.0 ones close
    // unless "keep-alive" is.
    let persistent = if minor == 0 {
        keep_alive && !close
    } else {
        !close
    };
    Ok(Request {
        method: Method::parse(method),
        path,
        close: !persistent,
        keep_alive_1_0: minor == 0 && persistent,
        framing,
        expect_continue: expect_continue && minor == 1,
        wants_html,
    })
}

/// The path of a request target in origin form or absolute form (RFC 9112 3.2), without its
/// query.
fn request_path(target: &str) -> Result<String, Reject> {
    let path = if target.starts_with('/') {
        target
    } else if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        // RFC 9112 3.2.2: "A server MUST accept the absolute-form in requests".
        rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/")
    } else {
        return Err(reject(
            Status::BadRequest,
            "unsupported request target form",
        ));
    };
    let path = path.split(['?', '#']).next().unwrap_or("/");
    Ok(path.to_owned())
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |i| i + 1);
    b.get(start..end).unwrap_or_default()
}

/// `1*DIGIT` as a u64; `None` when empty, not digits, or too large.
pub(super) fn parse_decimal(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    b.iter().try_fold(0u64, |acc, &c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        } else {
            None
        }
    })
}
