//! Requests hyper refuses before the front sees them (a malformed request line, a
//! control byte in a header value, a head too large): hyper answers them with a
//! bodiless 400, 414 or 431, which the connection's IO replaces with one of these JSON
//! errors, saying what is wrong from the head's own bytes.
//!
//! Invalid header lines are refused, never dropped: a dropped `Content-Length` or
//! `Transfer-Encoding` line would frame the body differently from a proxy in front.

use berth_awsproto::{ApiError, JsonVersion, Wire};

/// The code of a request that is not valid HTTP/1.1.
pub(crate) const BAD_REQUEST: &str = "BadRequestException";
/// The code of a head over the size or header-count limit.
pub(crate) const HEAD_TOO_LARGE: &str = "RequestHeaderFieldsTooLargeException";
/// The code of a request target over the length limit.
pub(crate) const URI_TOO_LONG: &str = "RequestUriTooLongException";

/// The status of `buf` when it is an error answer hyper wrote itself: a response head
/// with a 4xx or 5xx status and an empty body, without the request id every answer of
/// berth's carries.
pub(crate) fn bare_error_status(buf: &[u8]) -> Option<u16> {
    let rest = buf.strip_prefix(b"HTTP/1.")?;
    let status: u16 = std::str::from_utf8(rest.get(2..5)?).ok()?.parse().ok()?;
    if status < 400 {
        return None;
    }
    let end = find(buf, b"\r\n\r\n")?;
    let head = buf[..end + 2].to_ascii_lowercase();
    let empty = find(&head, b"\r\ncontent-length: 0\r\n").is_some();
    let ours = find(&head, b"\r\nx-amzn-requestid:").is_some();
    (empty && !ours && end + 4 == buf.len()).then_some(status)
}

/// The raw answer replacing hyper's bodiless `status`, from the head that caused it.
pub(crate) fn answer(status: u16, head: &[u8]) -> Vec<u8> {
    raw_json_error(&diagnose(status, head))
}

/// An error as a complete HTTP/1.1 response in AWS JSON 1.1, closing the connection.
pub(crate) fn raw_json_error(error: &ApiError) -> Vec<u8> {
    let request_id = berth_awsproto::uuid_v4();
    let reply = Wire::Json(JsonVersion::V1_1).error(None, error, &request_id);
    let reason = http::StatusCode::from_u16(reply.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: {}\r\n",
        reply.status, reply.content_type
    );
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        reply.body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&reply.body);
    bytes
}

/// What hyper's `status` means for this head.
pub(crate) fn diagnose(status: u16, head: &[u8]) -> ApiError {
    match status {
        431 => ApiError::new(
            431,
            HEAD_TOO_LARGE,
            "the request head is larger than 64 KiB, or has more than 100 headers",
        ),
        414 => ApiError::new(414, URI_TOO_LONG, "the request target is too long"),
        _ => ApiError::new(
            status,
            BAD_REQUEST,
            format!("the request is not valid HTTP/1.1: {}", fault(head)),
        ),
    }
}

/// The first thing wrong with a head, in words.
fn fault(head: &[u8]) -> String {
    let head = find(head, b"\r\n\r\n").map_or(head, |end| &head[..end]);
    let mut lines = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip_while(|l| l.is_empty());
    // Nothing kept (a head that came while a request was in flight): no words for it.
    let Some(request_line) = lines.next() else {
        return "the request head could not be read".to_string();
    };
    if let Some(why) = request_line_fault(request_line) {
        return why;
    }
    let mut lengths = Vec::new();
    for line in lines {
        if let Some(why) = header_fault(line, &mut lengths) {
            return why;
        }
    }
    "the request head could not be read".to_string()
}

fn request_line_fault(line: &[u8]) -> Option<String> {
    let parts: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
    let [method, target, version] = parts[..] else {
        return Some(format!(
            "the request line {} is not <method> <target> HTTP/1.1",
            show(line)
        ));
    };
    if method.is_empty() || !method.iter().all(|b| is_token(*b)) {
        return Some(format!("the method {} is not a token", show(method)));
    }
    if target.is_empty() || target.iter().any(|b| *b <= b' ' || *b == 0x7f) {
        return Some(format!(
            "the request target {} holds a byte a URI cannot",
            show(target)
        ));
    }
    if version != b"HTTP/1.1" && version != b"HTTP/1.0" {
        return Some(format!(
            "the version {} is not HTTP/1.1 or HTTP/1.0",
            show(version)
        ));
    }
    None
}

/// What is wrong with one header line; `lengths` collects the `Content-Length`s seen.
fn header_fault(line: &[u8], lengths: &mut Vec<Vec<u8>>) -> Option<String> {
    let Some(colon) = line.iter().position(|b| *b == b':') else {
        return Some(format!("the header line {} has no colon", show(line)));
    };
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|b| is_token(*b)) {
        return Some(format!("the header name {} is not a token", show(name)));
    }
    let shown = String::from_utf8_lossy(name);
    if let Some(b) = value.iter().find(|b| !is_value_byte(**b)) {
        return Some(format!(
            "the value of header {shown} holds the control byte 0x{b:02x}"
        ));
    }
    let value = value.trim_ascii();
    if name.eq_ignore_ascii_case(b"content-length") {
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Some(format!("header {shown} {} is not a length", show(value)));
        }
        if lengths.iter().any(|l| l != value) {
            return Some("two Content-Length headers disagree".to_string());
        }
        lengths.push(value.to_vec());
    }
    let chunked_last = value
        .rsplit(|b| *b == b',')
        .next()
        .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
    if name.eq_ignore_ascii_case(b"transfer-encoding") && !chunked_last {
        return Some(format!(
            "header {shown} {} does not end in chunked",
            show(value)
        ));
    }
    None
}

/// RFC 9110 `tchar`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What a header value may hold: HTAB, SP, visible characters and obs-text.
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7f)
}

/// Bytes quoted for a message: printable ASCII as is, the rest as `\xNN`, cut at 64.
fn show(bytes: &[u8]) -> String {
    let mut out = String::from("'");
    for b in bytes.iter().take(64) {
        match b {
            b' '..=b'~' if *b != b'\'' && *b != b'\\' => out.push(*b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > 64 {
        out.push('…');
    }
    out.push('\'');
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_bodiless_errors_are_replaced() {
        let hyper = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(bare_error_status(hyper), Some(400));
        let large = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(bare_error_status(large), Some(431));
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-amzn-requestid: r\r\n\r\n";
        assert_eq!(bare_error_status(ours), None);
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(bare_error_status(with_body), None);
        let fine = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(bare_error_status(fine), None);
        assert_eq!(bare_error_status(b"{\"HTTP/1.1 400\"}"), None);
    }

    fn says(head: &[u8]) -> String {
        diagnose(400, head).message
    }

    #[test]
    fn the_fault_is_named() {
        let m = says(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: appl\x01ication/json\r\n\r\n");
        assert_eq!(
            m,
            "the request is not valid HTTP/1.1: the value of header Content-Type holds the control byte 0x01"
        );
        let m = says(b"POST / HTTP/1.1\r\nX-Amz-Target: A\x00B\r\n\r\n");
        assert!(
            m.contains("X-Amz-Target holds the control byte 0x00"),
            "{m}"
        );
        let m = says(b"HELLO THERE\r\n\r\n");
        assert!(m.contains("request line 'HELLO THERE'"), "{m}");
        let m = says(b"POST / HTTP/9.9\r\n\r\n");
        assert!(m.contains("version 'HTTP/9.9'"), "{m}");
        let m = says(b"PO(ST / HTTP/1.1\r\n\r\n");
        assert!(m.contains("method 'PO(ST'"), "{m}");
        let m = says(b"POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n");
        assert!(m.contains("Content-Length 'ten' is not a length"), "{m}");
        let m = says(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert!(m.contains("disagree"), "{m}");
        let m = says(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert!(m.contains("does not end in chunked"), "{m}");
        let m = says(b"POST / HTTP/1.1\r\nNo colon here\r\n\r\n");
        assert!(m.contains("'No colon here' has no colon"), "{m}");
        let m = says(b"POST / HTTP/1.1\r\nBad Name: x\r\n\r\n");
        assert!(m.contains("header name 'Bad Name'"), "{m}");
        assert!(says(b"").contains("could not be read"));
        let e = diagnose(431, b"");
        assert_eq!((e.status, e.code.as_str()), (431, HEAD_TOO_LARGE));
    }

    #[test]
    fn the_answer_is_a_closing_json_response() {
        let raw = answer(400, b"HELLO\r\n\r\n");
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(
            head.contains("x-amzn-errortype: BadRequestException"),
            "{head}"
        );
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["__type"], BAD_REQUEST);
        assert!(v["message"].as_str().unwrap().contains("HELLO"), "{v}");
    }
}
