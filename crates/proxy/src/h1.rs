//! HTTP/1.1 heads and body framing for the fast path ([`crate::fast`]): a request head
//! is parsed with `httparse` and rewritten straight into the bytes sent upstream (the
//! hop-by-hop headers left out, `x-forwarded-for` for ingress), a response head into the
//! bytes sent downstream (`server` and the upstream time for ingress); chunked bodies are
//! forwarded as they are, [`ChunkScanner`] only finds where they end.
//!
//! Anything the fast path does not handle — HTTP/1.0, upgrades, absolute or `*` targets,
//! a `connection` header naming other headers, malformed or oversized heads — is
//! [`ParsedRequest::Fallback`]: the connection goes to hyper, which answers as it always
//! did (400, 431, ...). `CONNECT` and a second `host` are [`ParsedRequest::Refused`]: the
//! proxy answers them itself (405, 400), as hyper's path does ([`Refusal`]).

use std::io::Write as _;
use std::mem::MaybeUninit;

use crate::headers::Refusal;

/// Headers a head may have for the fast path (more: hyper takes the connection).
pub(crate) const MAX_HEADERS: usize = 64;

/// Headers a response may have (as hyper's client).
const MAX_RESPONSE_HEADERS: usize = 100;

/// The largest response head accepted from a target.
pub(crate) const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    None,
    /// `content-length`.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Until the connection closes (responses only).
    Close,
}

/// What only the access log needs from a request head.
#[derive(Debug, Default)]
pub(crate) struct ReqFields {
    pub method: String,
    pub path: String,
    pub forwarded_for: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub authority: Option<String>,
    /// `x-amzn-trace-id` as the client sent it (a load balancer's log).
    pub trace_id: Option<String>,
}

/// A request head the fast path takes.
#[derive(Debug)]
pub(crate) struct ReqHead {
    /// Bytes of the head (through its empty line).
    pub len: usize,
    pub body: Framing,
    /// `HEAD`: the response has no body whatever its headers say.
    pub is_head: bool,
    /// The client asked to close after this request.
    pub close: bool,
    /// `expect: 100-continue`.
    pub expect_continue: bool,
    /// The request has a `host` header (otherwise each attempt adds the endpoint's).
    pub has_host: bool,
    /// `content-type: application/grpc...`.
    pub grpc: bool,
    pub fields: Option<Box<ReqFields>>,
}

/// What [`parse_request`] found.
#[derive(Debug)]
pub(crate) enum ParsedRequest {
    /// The upstream head (without `host` when the request has none, and without its
    /// final empty line) was written to `out`.
    Complete(ReqHead),
    /// hyper takes the connection from this request on.
    Fallback,
    /// The proxy answers this request itself and closes the connection; nothing was
    /// written to `out` that may be sent.
    Refused(Refused),
}

/// A request head the proxy refuses to forward.
#[derive(Debug)]
pub(crate) struct Refused {
    /// Bytes of the head.
    pub len: usize,
    pub why: Refusal,
    pub fields: Option<Box<ReqFields>>,
}

/// The end of a head in `buf` (the index after its empty line), searching from `from`.
pub(crate) fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from.saturating_sub(3);
    while let Some(p) = buf[i..].iter().position(|&b| b == b'\n') {
        let at = i + p;
        match buf.get(at + 1) {
            Some(b'\n') => return Some(at + 2),
            Some(b'\r') if buf.get(at + 2) == Some(&b'\n') => return Some(at + 3),
            Some(_) => i = at + 1,
            None => return None,
        }
    }
    None
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty())
}

/// A decimal `content-length`.
fn content_length(v: &[u8]) -> Option<u64> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

fn header_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// What a forwarded request head gets besides the client's headers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Forwarding<'a> {
    /// The client's IP, appended to `x-forwarded-for` (ingress, a load balancer).
    pub forwarded_for: Option<&'a [u8]>,
    /// A load balancer's headers.
    pub alb: Option<AlbForwarding<'a>>,
}

/// What a load balancer adds, as ALB does: `x-forwarded-proto` and `x-forwarded-port`
/// (the client's own replaced), and `x-amzn-trace-id` when the request has none.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AlbForwarding<'a> {
    /// The listener's port.
    pub port: u16,
    /// A new trace id (`Root=...`), sent when the request has no `x-amzn-trace-id`.
    pub trace_id: &'a str,
}

/// Parses the request head at the start of `buf` (complete: see [`head_end`]) and writes
/// the head to send upstream to `out`. `forwarded_for`: the client's IP, appended to
/// `x-forwarded-for` (ingress). `fields`: capture what the access log needs.
pub(crate) fn parse_request(
    buf: &[u8],
    out: &mut Vec<u8>,
    forwarded_for: Option<&[u8]>,
    fields: bool,
) -> ParsedRequest {
    let fwd = Forwarding {
        forwarded_for,
        alb: None,
    };
    parse_request_with(buf, out, fwd, fields)
}

/// [`parse_request`], with what `fwd` adds.
pub(crate) fn parse_request_with(
    buf: &[u8],
    out: &mut Vec<u8>,
    fwd: Forwarding<'_>,
    fields: bool,
) -> ParsedRequest {
    let forwarded_for = fwd.forwarded_for;
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return ParsedRequest::Fallback,
    };
    let (Some(method), Some(path), Some(1)) = (req.method, req.path, req.version) else {
        return ParsedRequest::Fallback;
    };
    let mut fields = fields.then(|| {
        Box::new(ReqFields {
            method: method.to_string(),
            path: path.to_string(),
            ..Default::default()
        })
    });
    if method == "CONNECT" {
        return ParsedRequest::Refused(Refused {
            len,
            why: Refusal::Connect,
            fields,
        });
    }
    if !path.starts_with('/') {
        return ParsedRequest::Fallback;
    }
    out.clear();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut head = ReqHead {
        len,
        body: Framing::None,
        is_head: method == "HEAD",
        close: false,
        expect_continue: false,
        has_host: false,
        grpc: false,
        fields: None,
    };
    let mut xff_done = false;
    let mut has_trace = false;
    let mut refusal = None;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        let v = h.value;
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        match name.len() {
            4 if is("host") => {
                if head.has_host {
                    // Refused once the rest of the head is read (for the access log).
                    refusal = Some(Refusal::DuplicateHost);
                }
                head.has_host = true;
                if let Some(f) = &mut fields {
                    f.authority = Some(lossy(v));
                }
            }
            14 if is("content-length") => match (content_length(v), length) {
                // Written once, after the others.
                (Some(n), None) => {
                    length = Some(n);
                    continue;
                }
                (Some(n), Some(m)) if n == m => continue,
                _ => return ParsedRequest::Fallback,
            },
            17 if is("transfer-encoding") => {
                if chunked || !trim(v).eq_ignore_ascii_case(b"chunked") {
                    return ParsedRequest::Fallback;
                }
                chunked = true;
                continue;
            }
            10 if is("connection") => {
                for t in tokens(v) {
                    if t.eq_ignore_ascii_case(b"close") {
                        head.close = true;
                    } else if !t.eq_ignore_ascii_case(b"keep-alive") {
                        // Upgrades, or headers named hop-by-hop: hyper's path.
                        return ParsedRequest::Fallback;
                    }
                }
                continue;
            }
            10 if is("keep-alive") => continue,
            16 if is("proxy-connection") => continue,
            7 if is("upgrade") => return ParsedRequest::Fallback,
            2 if is("te") && !trim(v).eq_ignore_ascii_case(b"trailers") => continue,
            6 if is("expect") => {
                // The proxy answers 100 Continue itself (when it starts reading the body)
                // and sends the body at once: the target is not asked again.
                if trim(v).eq_ignore_ascii_case(b"100-continue") {
                    head.expect_continue = true;
                    continue;
                }
                return ParsedRequest::Fallback;
            }
            12 if is("content-type") => {
                head.grpc = v.starts_with(b"application/grpc");
            }
            10 if is("user-agent") => {
                if let Some(f) = &mut fields {
                    f.user_agent = Some(lossy(v));
                }
            }
            15 if fwd.alb.is_some() && is("x-amzn-trace-id") => {
                has_trace = true;
                if let Some(f) = &mut fields {
                    f.trace_id = Some(lossy(v));
                }
            }
            16 | 17 if fwd.alb.is_some() && (is("x-forwarded-port") || is("x-forwarded-proto")) => {
                continue;
            }
            12 if is("x-request-id") => {
                if let Some(f) = &mut fields {
                    f.request_id = Some(lossy(v));
                }
            }
            15 if is("x-forwarded-for") => {
                if let Some(f) = &mut fields {
                    f.forwarded_for = Some(lossy(v));
                }
                if let Some(peer) = forwarded_for {
                    if xff_done {
                        return ParsedRequest::Fallback;
                    }
                    xff_done = true;
                    out.extend_from_slice(name);
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(v);
                    out.extend_from_slice(b", ");
                    out.extend_from_slice(peer);
                    out.extend_from_slice(b"\r\n");
                    continue;
                }
            }
            _ => {}
        }
        header_line(out, name, v);
    }
    if let Some(why) = refusal {
        return ParsedRequest::Refused(Refused { len, why, fields });
    }
    if let Some(peer) = forwarded_for {
        if !xff_done {
            header_line(out, b"x-forwarded-for", peer);
        }
    }
    if let Some(alb) = fwd.alb {
        let _ = write!(
            out,
            "x-forwarded-proto: http\r\nx-forwarded-port: {}\r\n",
            alb.port
        );
        if !has_trace {
            header_line(out, b"x-amzn-trace-id", alb.trace_id.as_bytes());
            if let Some(f) = &mut fields {
                f.trace_id = Some(alb.trace_id.to_string());
            }
        }
    }
    head.body = match (chunked, length) {
        (true, Some(_)) => return ParsedRequest::Fallback,
        (true, None) => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            Framing::Chunked
        }
        (false, Some(0)) | (false, None) => {
            if length == Some(0) {
                out.extend_from_slice(b"content-length: 0\r\n");
            }
            Framing::None
        }
        (false, Some(n)) => {
            let _ = write!(out, "content-length: {n}\r\n");
            Framing::Length(n)
        }
    };
    head.fields = fields;
    ParsedRequest::Complete(head)
}

/// A response head from a target.
#[derive(Debug)]
pub(crate) struct RespHead {
    pub status: u16,
    /// Bytes of the head.
    pub len: usize,
    pub body: Framing,
    /// The target closes the connection after this response (or its framing does).
    pub close: bool,
    pub grpc_status: Option<String>,
}

/// What the proxy adds to a response head sent downstream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RespEdits {
    /// The request was `HEAD`.
    pub is_head: bool,
    /// Ingress: `server: berth` and the application's time to respond, in ms.
    pub ingress_ms: Option<u64>,
    /// Tell the client the connection closes after this response.
    pub close: bool,
    /// Capture `grpc-status` (access log).
    pub grpc_status: bool,
}

/// Why a response head is unusable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeadError {
    #[error("malformed response head: {0}")]
    Parse(httparse::Error),
    #[error("response head larger than {MAX_RESPONSE_HEAD} bytes")]
    TooLarge,
    #[error("invalid content-length")]
    Length,
    #[error("unexpected 101 Switching Protocols")]
    Switching,
}

/// Parses the response head at the start of `buf`: `Ok(None)` while incomplete. A
/// complete final head is rewritten into `out` (cleared first); informational (1xx)
/// heads are returned with nothing written, for the caller to skip.
pub(crate) fn parse_response(
    buf: &[u8],
    out: &mut Vec<u8>,
    edits: RespEdits,
) -> Result<Option<RespHead>, HeadError> {
    let mut headers =
        [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut headers,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_RESPONSE_HEAD => {
            return Err(HeadError::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(e) => return Err(HeadError::Parse(e)),
    };
    let status = resp.code.unwrap_or(0);
    let http10 = resp.version == Some(0);
    let mut head = RespHead {
        status,
        len,
        body: Framing::None,
        close: http10,
        grpc_status: None,
    };
    if status == 101 {
        return Err(HeadError::Switching);
    }
    if (100..200).contains(&status) {
        return Ok(Some(head));
    }
    // First pass: framing and connection options.
    let mut length: Option<u64> = None;
    let mut te: Option<&[u8]> = None;
    let mut named: Vec<&[u8]> = Vec::new();
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if name.len() == 14 && is("content-length") {
            match (content_length(h.value), length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return Err(HeadError::Length),
            }
        } else if name.len() == 17 && is("transfer-encoding") {
            te = Some(trim(h.value));
        } else if name.len() == 10 && is("connection") {
            for t in tokens(h.value) {
                if t.eq_ignore_ascii_case(b"close") {
                    head.close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    if http10 {
                        head.close = false;
                    }
                } else {
                    named.push(t);
                }
            }
        } else if edits.grpc_status && name.len() == 11 && is("grpc-status") {
            head.grpc_status = Some(lossy(h.value));
        }
    }
    let no_body = edits.is_head || status == 204 || status == 304;
    head.body = if no_body {
        Framing::None
    } else if let Some(te) = te {
        let last = te.rsplit(|&b| b == b',').next().map(trim).unwrap_or(b"");
        // With both, transfer-encoding wins and the connection cannot be trusted after.
        head.close |= length.is_some();
        if last.eq_ignore_ascii_case(b"chunked") {
            Framing::Chunked
        } else {
            Framing::Close
        }
    } else {
        match length {
            Some(0) => Framing::None,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    };
    if head.body == Framing::Close {
        head.close = true;
    }

    out.clear();
    // The status line as the target sent it, as HTTP/1.1 ("HTTP/1.x " is 9 bytes).
    out.extend_from_slice(b"HTTP/1.1 ");
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(0);
    let rest = buf.get(9..line_end).unwrap_or(b"");
    let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
    if rest.len() > 4 {
        out.extend_from_slice(rest);
    } else {
        // No reason phrase: the canonical one.
        let _ = write!(
            out,
            "{status} {}",
            http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("")
        );
    }
    out.extend_from_slice(b"\r\n");
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        let skip = match name.len() {
            10 => is("connection") || is("keep-alive"),
            16 => is("proxy-connection"),
            17 => is("transfer-encoding"),
            7 => is("upgrade"),
            2 => is("te") && !trim(h.value).eq_ignore_ascii_case(b"trailers"),
            14 => is("content-length") && head.body == Framing::Chunked,
            6 => edits.ingress_ms.is_some() && is("server"),
            29 => edits.ingress_ms.is_some() && is("x-berth-upstream-service-time"),
            _ => false,
        } || named.iter().any(|n| name.eq_ignore_ascii_case(n));
        if !skip {
            header_line(out, name, h.value);
        }
    }
    match head.body {
        Framing::Chunked => header_line(out, b"transfer-encoding", te.unwrap_or(b"chunked")),
        // Re-chunked (see `ChunkEncoder`): the client keeps its connection.
        Framing::Close => header_line(out, b"transfer-encoding", b"chunked"),
        Framing::None | Framing::Length(_) => {}
    }
    if let Some(ms) = edits.ingress_ms {
        let _ = write!(
            out,
            "server: berth\r\nx-berth-upstream-service-time: {ms}\r\n"
        );
    }
    if edits.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Some(head))
}

/// A chunked body that is not well formed.
#[derive(Debug, thiserror::Error)]
#[error("malformed chunked body")]
pub(crate) struct ChunkError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// In a chunk-size line; whether a digit was seen.
    Size(bool),
    /// In a chunk extension.
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    Trailer,
    TrailerLf,
    EndLf,
    Done,
}

/// Finds the end of a chunked body passing through, and counts its data bytes.
#[derive(Debug, Clone)]
pub(crate) struct ChunkScanner {
    state: Chunk,
    size: u64,
    /// Bytes in the current size or trailer line (bounded).
    line: usize,
}

/// What [`ChunkScanner::feed`] consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fed {
    /// Bytes of the input that belong to the body (all of them unless it ended).
    pub used: usize,
    /// Data bytes among them (without the framing).
    pub data: u64,
    /// The body ended.
    pub done: bool,
}

const MAX_LINE: usize = 8 * 1024;

impl Default for ChunkScanner {
    fn default() -> Self {
        ChunkScanner {
            state: Chunk::Size(false),
            size: 0,
            line: 0,
        }
    }
}

impl ChunkScanner {
    /// Consumes `buf` up to the end of the body.
    pub(crate) fn feed(&mut self, buf: &[u8]) -> Result<Fed, ChunkError> {
        let mut i = 0;
        let mut data = 0u64;
        while i < buf.len() {
            if self.state == Chunk::Data {
                let n = usize::try_from(self.size)
                    .unwrap_or(usize::MAX)
                    .min(buf.len() - i);
                i += n;
                data += n as u64;
                self.size -= n as u64;
                if self.size == 0 {
                    self.state = Chunk::DataCr;
                }
                continue;
            }
            let b = buf[i];
            i += 1;
            self.state = match self.state {
                Chunk::Size(seen) => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if self.size > u64::MAX >> 4 {
                            return Err(ChunkError);
                        }
                        let d = (b as char).to_digit(16).unwrap_or(0);
                        self.size = (self.size << 4) | u64::from(d);
                        Chunk::Size(true)
                    }
                    b';' | b' ' | b'\t' if seen => {
                        self.line = 0;
                        Chunk::Ext
                    }
                    b'\r' if seen => Chunk::SizeLf,
                    _ => return Err(ChunkError),
                },
                Chunk::Ext => match b {
                    b'\r' => Chunk::SizeLf,
                    b'\n' => return Err(ChunkError),
                    _ => {
                        self.line += 1;
                        if self.line > MAX_LINE {
                            return Err(ChunkError);
                        }
                        Chunk::Ext
                    }
                },
                Chunk::SizeLf => match b {
                    b'\n' if self.size == 0 => Chunk::TrailerStart,
                    b'\n' => Chunk::Data,
                    _ => return Err(ChunkError),
                },
                Chunk::Data => unreachable!("handled above"),
                Chunk::DataCr => match b {
                    b'\r' => Chunk::DataLf,
                    _ => return Err(ChunkError),
                },
                Chunk::DataLf => match b {
                    b'\n' => Chunk::Size(false),
                    _ => return Err(ChunkError),
                },
                Chunk::TrailerStart => match b {
                    b'\r' => Chunk::EndLf,
                    b'\n' => return Err(ChunkError),
                    _ => {
                        self.line = 1;
                        Chunk::Trailer
                    }
                },
                Chunk::Trailer => match b {
                    b'\r' => Chunk::TrailerLf,
                    b'\n' => return Err(ChunkError),
                    _ => {
                        self.line += 1;
                        if self.line > MAX_LINE {
                            return Err(ChunkError);
                        }
                        Chunk::Trailer
                    }
                },
                Chunk::TrailerLf => match b {
                    b'\n' => Chunk::TrailerStart,
                    _ => return Err(ChunkError),
                },
                Chunk::EndLf => match b {
                    b'\n' => {
                        self.state = Chunk::Done;
                        return Ok(Fed {
                            used: i,
                            data,
                            done: true,
                        });
                    }
                    _ => return Err(ChunkError),
                },
                Chunk::Done => unreachable!("feed stops at the end"),
            };
        }
        Ok(Fed {
            used: i,
            data,
            done: self.state == Chunk::Done,
        })
    }
}

/// Writes `data` as one chunk of a chunked body (a body the target delimited by closing).
pub(crate) fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk of a chunked body.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str, xff: Option<&[u8]>) -> (ReqHead, String) {
        let mut out = Vec::new();
        match parse_request(s.as_bytes(), &mut out, xff, true) {
            ParsedRequest::Complete(h) => (h, String::from_utf8(out).unwrap()),
            other => panic!("{other:?} for {s:?}"),
        }
    }

    fn refused(s: &str) -> Option<Refusal> {
        match parse_request(s.as_bytes(), &mut Vec::new(), None, true) {
            ParsedRequest::Refused(r) => {
                assert_eq!(r.len, s.len(), "{s:?}");
                Some(r.why)
            }
            _ => None,
        }
    }

    fn falls_back(s: &str) -> bool {
        matches!(
            parse_request(s.as_bytes(), &mut Vec::new(), None, false),
            ParsedRequest::Fallback
        )
    }

    #[test]
    fn head_end_finds_crlf_and_lf_endings() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest", 0), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nrest", 0), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nhost: a\r\n", 0), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nhost: a\r\n\r", 0), None);
        let b = b"GET / HTTP/1.1\r\nhost: a\r\n\r\n";
        assert_eq!(head_end(b, 20), Some(b.len()));
    }

    #[test]
    fn request_head_loses_hop_by_hop_headers() {
        let (h, out) = req(
            "GET /a?b=1 HTTP/1.1\r\nHost: orders\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nTE: gzip\r\nUser-Agent: t\r\nX-Kept: 1\r\n\r\n",
            None,
        );
        assert_eq!(
            out,
            "GET /a?b=1 HTTP/1.1\r\nHost: orders\r\nUser-Agent: t\r\nX-Kept: 1\r\n"
        );
        assert!(h.has_host && !h.close && h.body == Framing::None);
        let f = h.fields.unwrap();
        assert_eq!((f.method.as_str(), f.path.as_str()), ("GET", "/a?b=1"));
        assert_eq!(f.authority.as_deref(), Some("orders"));
        assert_eq!(f.user_agent.as_deref(), Some("t"));
    }

    #[test]
    fn request_framing_and_options() {
        let (h, out) = req(
            "POST / HTTP/1.1\r\ncontent-length: 5\r\nconnection: close\r\nexpect: 100-continue\r\n\r\n",
            None,
        );
        assert_eq!(h.body, Framing::Length(5));
        assert!(h.close && h.expect_continue && !h.has_host);
        assert!(out.ends_with("content-length: 5\r\n"), "{out}");
        assert!(!out.contains("expect"), "{out}");
        let (h, out) = req(
            "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n",
            None,
        );
        assert_eq!(h.body, Framing::Chunked);
        assert!(out.ends_with("transfer-encoding: chunked\r\n"), "{out}");
        let (h, _) = req("HEAD / HTTP/1.1\r\nhost: a\r\n\r\n", None);
        assert!(h.is_head);
    }

    #[test]
    fn ingress_appends_forwarded_for() {
        let (_, out) = req("GET / HTTP/1.1\r\nhost: a\r\n\r\n", Some(b"10.0.0.9"));
        assert!(out.ends_with("x-forwarded-for: 10.0.0.9\r\n"), "{out}");
        let (_, out) = req(
            "GET / HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\nhost: a\r\n\r\n",
            Some(b"10.0.0.9"),
        );
        assert!(
            out.contains("X-Forwarded-For: 1.2.3.4, 10.0.0.9\r\n"),
            "{out}"
        );
    }

    #[test]
    fn unusual_requests_go_to_hyper() {
        assert!(falls_back("GET / HTTP/1.0\r\n\r\n"));
        assert!(falls_back("GET http://a/ HTTP/1.1\r\n\r\n"));
        assert!(falls_back("OPTIONS * HTTP/1.1\r\n\r\n"));
        assert!(falls_back(
            "GET / HTTP/1.1\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"
        ));
        assert!(falls_back(
            "GET / HTTP/1.1\r\nconnection: x-private\r\n\r\n"
        ));
        assert!(falls_back(
            "POST / HTTP/1.1\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n"
        ));
        assert!(falls_back(
            "POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"
        ));
        assert!(falls_back("POST / HTTP/1.1\r\ncontent-length: -1\r\n\r\n"));
        assert!(falls_back(
            "POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n"
        ));
        assert!(falls_back("GET / HTTP/1.1\r\nbad header\r\n\r\n"));
        assert!(falls_back("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    }

    #[test]
    fn connect_and_a_second_host_are_refused() {
        assert_eq!(
            refused("CONNECT a:443 HTTP/1.1\r\nhost: a:443\r\n\r\n"),
            Some(Refusal::Connect)
        );
        assert_eq!(
            refused("GET / HTTP/1.1\r\nhost: a\r\nuser-agent: t\r\nHost: b\r\n\r\n"),
            Some(Refusal::DuplicateHost)
        );
        assert_eq!(
            refused("GET / HTTP/1.1\r\nhost: a\r\nhost: a\r\n\r\n"),
            Some(Refusal::DuplicateHost)
        );
        assert_eq!(refused("GET / HTTP/1.1\r\nhost: a\r\n\r\n"), None);
        // The log still gets what the head says.
        let ParsedRequest::Refused(r) = parse_request(
            b"GET /x HTTP/1.1\r\nhost: a\r\nhost: b\r\nuser-agent: t\r\n\r\n",
            &mut Vec::new(),
            None,
            true,
        ) else {
            panic!("refused")
        };
        let f = r.fields.unwrap();
        assert_eq!(
            (f.path.as_str(), f.user_agent.as_deref()),
            ("/x", Some("t"))
        );
    }

    fn resp(s: &str, edits: RespEdits) -> (RespHead, String) {
        let mut out = Vec::new();
        let h = parse_response(s.as_bytes(), &mut out, edits)
            .unwrap()
            .unwrap();
        (h, String::from_utf8(out).unwrap())
    }

    const PLAIN: RespEdits = RespEdits {
        is_head: false,
        ingress_ms: None,
        close: false,
        grpc_status: false,
    };

    #[test]
    fn response_framing() {
        let (h, out) = resp("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", PLAIN);
        assert_eq!(
            (h.status, h.body, h.close),
            (200, Framing::Length(2), false)
        );
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n");
        let (h, out) = resp(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
            PLAIN,
        );
        assert_eq!(h.body, Framing::Chunked);
        assert_eq!(out, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
        let (h, out) = resp("HTTP/1.1 200 OK\r\n\r\n", PLAIN);
        assert_eq!((h.body, h.close), (Framing::Close, true));
        assert!(out.contains("transfer-encoding: chunked"), "{out}");
        let (h, _) = resp("HTTP/1.1 204 No Content\r\n\r\n", PLAIN);
        assert_eq!((h.body, h.close), (Framing::None, false));
        let (h, out) = resp(
            "HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n",
            PLAIN,
        );
        assert_eq!(h.body, Framing::None);
        assert!(out.contains("content-length: 9"), "{out}");
        let head = RespEdits {
            is_head: true,
            ..PLAIN
        };
        let (h, _) = resp("HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", head);
        assert_eq!(h.body, Framing::None);
        let (h, _) = resp("HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", PLAIN);
        assert!(h.close);
        let (h, _) = resp(
            "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok",
            PLAIN,
        );
        assert!(!h.close);
        let (h, _) = resp("HTTP/1.1 100 Continue\r\n\r\n", PLAIN);
        assert_eq!(h.status, 100);
        let mut out = Vec::new();
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ncont", &mut out, PLAIN)
            .unwrap()
            .is_none());
        assert!(parse_response(b"garbage\r\n\r\n", &mut out, PLAIN).is_err());
        assert!(parse_response(
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            &mut out,
            PLAIN
        )
        .is_err());
    }

    #[test]
    fn ingress_and_close_edits() {
        let e = RespEdits {
            ingress_ms: Some(3),
            close: true,
            ..PLAIN
        };
        let (_, out) = resp(
            "HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: close, x-private\r\nx-private: 1\r\ncontent-length: 0\r\n\r\n",
            e,
        );
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nserver: berth\r\nx-berth-upstream-service-time: 3\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn chunk_scanner_finds_the_end() {
        let body = b"4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        let mut s = ChunkScanner::default();
        let f = s.feed(body).unwrap();
        assert_eq!(
            f,
            Fed {
                used: body.len() - 4,
                data: 9,
                done: true
            }
        );
        // Byte by byte, the same.
        let mut s = ChunkScanner::default();
        let (mut used, mut data) = (0, 0);
        for b in body.iter() {
            let f = s.feed(std::slice::from_ref(b)).unwrap();
            used += f.used;
            data += f.data;
            if f.done {
                break;
            }
        }
        assert_eq!((used, data), (body.len() - 4, 9));
        assert!(ChunkScanner::default().feed(b"zz\r\n").is_err());
        assert!(ChunkScanner::default().feed(b"2\r\nabc\r\n").is_err());
        assert!(ChunkScanner::default()
            .feed(b"ffffffffffffffffff\r\n")
            .is_err());
        let f = ChunkScanner::default().feed(b"0\r\n\r\n").unwrap();
        assert!(f.done && f.data == 0);
    }

    #[test]
    fn chunk_encoding() {
        let mut out = Vec::new();
        encode_chunk(&mut out, b"hello world, this is long");
        encode_chunk(&mut out, b"");
        out.extend_from_slice(LAST_CHUNK);
        assert_eq!(out, b"19\r\nhello world, this is long\r\n0\r\n\r\n");
    }
}
