//! A small `multipart/form-data` parser over a body already read into memory (size-capped by the
//! caller), enough for Worker uploads: part name, file name, content type and bytes.

use super::error::SandboxError;

#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// The `boundary` parameter of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

fn bad(msg: &str) -> SandboxError {
    SandboxError::BadRequest(format!("malformed multipart body: {msg}"))
}

/// A quoted or bare parameter value of a `Content-Disposition` header.
fn disposition_param(header: &str, key: &str) -> Option<String> {
    for piece in header.split(';').skip(1) {
        let (k, v) = piece.trim().split_once('=')?;
        if k.trim().eq_ignore_ascii_case(key) {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(v);
            return Some(v.replace("\\\"", "\""));
        }
    }
    None
}

/// Encodes parts as a `multipart/form-data` body; returns the body and its boundary.
pub fn encode(parts: &[Part]) -> (Vec<u8>, String) {
    // A boundary that occurs in no part, so the encoding is always unambiguous.
    let mut boundary = format!("clodo-sandbox-{}", uuid::Uuid::new_v4().simple());
    while parts
        .iter()
        .any(|p| find(&p.data, boundary.as_bytes(), 0).is_some())
    {
        boundary = format!("clodo-sandbox-{}", uuid::Uuid::new_v4().simple());
    }
    let quote = |s: &str| s.replace('"', "\\\"");
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!(
            "Content-Disposition: form-data; name=\"{}\"",
            quote(&part.name)
        );
        if let Some(filename) = &part.filename {
            disposition.push_str(&format!("; filename=\"{}\"", quote(filename)));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = &part.content_type {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&part.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (body, boundary)
}

/// Splits the body into its parts.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, SandboxError> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut pos = find(body, &delimiter, 0).ok_or_else(|| bad("no opening boundary"))?;
    let mut parts = Vec::new();
    loop {
        pos += delimiter.len();
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err(bad("boundary not followed by CRLF"));
        }
        pos += 2;
        let header_end = find(body, b"\r\n\r\n", pos).ok_or_else(|| bad("unterminated headers"))?;
        let headers = std::str::from_utf8(&body[pos..header_end])
            .map_err(|_| bad("headers are not UTF-8"))?;
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in headers.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("content-disposition") {
                name = disposition_param(value, "name");
                filename = disposition_param(value, "filename");
            } else if key.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_string());
            }
        }
        let data_start = header_end + 4;
        let mut closing = b"\r\n".to_vec();
        closing.extend_from_slice(&delimiter);
        let data_end =
            find(body, &closing, data_start).ok_or_else(|| bad("part without closing boundary"))?;
        parts.push(Part {
            name: name.ok_or_else(|| bad("part without a name"))?,
            filename,
            content_type,
            data: body[data_start..data_end].to_vec(),
        });
        pos = data_end + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metadata_and_file_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"a\":1}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"index.js\"; filename=\"index.js\"\r\nContent-Type: application/javascript+module\r\n\r\nexport default {}\r\n--XyZ--\r\n";
        let parts = parse(body, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "metadata");
        assert_eq!(parts[0].data, b"{\"a\":1}");
        assert_eq!(parts[1].filename.as_deref(), Some("index.js"));
        assert_eq!(
            parts[1].content_type.as_deref(),
            Some("application/javascript+module")
        );
        assert_eq!(parts[1].data, b"export default {}");
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let parts = vec![
            Part {
                name: "index.js".into(),
                filename: Some("index.js".into()),
                content_type: Some("application/javascript+module".into()),
                data: b"export default {}\r\n--not-a-boundary".to_vec(),
            },
            Part {
                name: "data.bin".into(),
                filename: None,
                content_type: None,
                data: vec![0, 1, 2, 255],
            },
        ];
        let (body, boundary) = encode(&parts);
        assert_eq!(parse(&body, &boundary).unwrap(), parts);
    }

    #[test]
    fn rejects_truncated_bodies() {
        assert!(parse(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc",
            "XyZ"
        )
        .is_err());
        assert!(parse(b"nothing here", "XyZ").is_err());
    }

    #[test]
    fn boundary_from_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=----abc").as_deref(),
            Some("----abc")
        );
        assert_eq!(
            boundary("multipart/form-data; boundary=\"q r\"").as_deref(),
            Some("q r")
        );
        assert_eq!(boundary("application/json"), None);
    }
}
