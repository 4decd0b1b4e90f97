//! A Worker version's modules as Cloudflare returns them (`GET …/scripts/{s}/content/v2?
//! version=`: `multipart/form-data`, one part per module, the main module named by the
//! `cf-entrypoint` header), their SHA-256 digests, and the comparison a promotion makes between
//! the source version and the version it uploaded. Pure.

use sha2::{Digest, Sha256};

pub use crate::api::contract::deployments::ModuleDigest;

/// One module of a version: its name, content type and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub name: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A version's modules, main module first named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionContent {
    pub main_module: String,
    pub modules: Vec<Module>,
}

/// Why an answer is not a version's modules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("the answer is not multipart/form-data (content-type `{0}`)")]
    NotMultipart(String),
    #[error("malformed multipart body: {0}")]
    Malformed(&'static str),
    #[error("module name `{0}` is not a safe relative path")]
    UnsafeName(String),
    #[error("the main module `{0}` (cf-entrypoint) is not among the parts")]
    NoMainModule(String),
    #[error("the answer names no main module (no cf-entrypoint header)")]
    NoEntrypoint,
}

impl VersionContent {
    /// Parses the content endpoint's answer from its `content-type` and `cf-entrypoint`
    /// headers and body.
    ///
    /// # Errors
    /// A [`ContentError`] when the answer is not a version's modules.
    pub fn parse(
        content_type: &str,
        entrypoint: Option<&str>,
        body: &[u8],
    ) -> Result<Self, ContentError> {
        let boundary = boundary_of(content_type)
            .ok_or_else(|| ContentError::NotMultipart(content_type.to_owned()))?;
        let modules = parse_parts(body, &boundary)?;
        for m in &modules {
            if !safe_name(&m.name) {
                return Err(ContentError::UnsafeName(m.name.clone()));
            }
        }
        let main_module = entrypoint
            .map(str::to_owned)
            .ok_or(ContentError::NoEntrypoint)?;
        if !modules.iter().any(|m| m.name == main_module) {
            return Err(ContentError::NoMainModule(main_module));
        }
        Ok(Self {
            main_module,
            modules,
        })
    }

    /// The SHA-256 of every module, sorted by name.
    #[must_use]
    pub fn digests(&self) -> Vec<ModuleDigest> {
        let mut out: Vec<ModuleDigest> = self
            .modules
            .iter()
            .map(|m| ModuleDigest {
                name: m.name.clone(),
                sha256: sha256_hex(&m.bytes),
            })
            .collect();
        out.sort();
        out
    }
}

/// Lower-case hex SHA-256 of `bytes`.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How the uploaded version differs from the source, module by module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// In the source, not in the upload.
    Missing(String),
    /// In the upload, not in the source.
    Extra(String),
    /// In both, with different bytes.
    Changed {
        name: String,
        source: String,
        uploaded: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Missing(n) => write!(f, "{n} is missing from the upload"),
            Mismatch::Extra(n) => write!(f, "{n} was not in the source version"),
            Mismatch::Changed {
                name,
                source,
                uploaded,
            } => write!(
                f,
                "{name} differs (source sha256 {}…, uploaded {}…)",
                &source[..12.min(source.len())],
                &uploaded[..12.min(uploaded.len())]
            ),
        }
    }
}

/// Every difference between the source version's modules and the uploaded version's; empty
/// when the two carry byte-identical modules under the same names.
#[must_use]
pub fn compare(source: &[ModuleDigest], uploaded: &[ModuleDigest]) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for s in source {
        match uploaded.iter().find(|u| u.name == s.name) {
            None => out.push(Mismatch::Missing(s.name.clone())),
            Some(u) if u.sha256 != s.sha256 => out.push(Mismatch::Changed {
                name: s.name.clone(),
                source: s.sha256.clone(),
                uploaded: u.sha256.clone(),
            }),
            Some(_) => {}
        }
    }
    for u in uploaded {
        if !source.iter().any(|s| s.name == u.name) {
            out.push(Mismatch::Extra(u.name.clone()));
        }
    }
    out
}

/// A module name that stays inside the directory it is written to: relative, `/`-separated,
/// no empty, `.` or `..` segment.
#[must_use]
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && !name.contains('\\')
        && !name.contains('\0')
        && name
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && !name.contains(':')
}

fn boundary_of(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// `name="…"` (or `filename="…"`) of a `content-disposition` value.
fn disposition_param(value: &str, key: &str) -> Option<String> {
    value.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn parse_parts(body: &[u8], boundary: &str) -> Result<Vec<Module>, ContentError> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut closing = b"\r\n".to_vec();
    closing.extend_from_slice(&delimiter);
    let mut pos =
        find(body, &delimiter, 0).ok_or(ContentError::Malformed("no opening boundary"))?;
    let mut modules = Vec::new();
    loop {
        pos += delimiter.len();
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(modules);
        }
        if !rest.starts_with(b"\r\n") {
            return Err(ContentError::Malformed("boundary not followed by CRLF"));
        }
        pos += 2;
        let headers_end =
            find(body, b"\r\n\r\n", pos).ok_or(ContentError::Malformed("unterminated headers"))?;
        let headers = std::str::from_utf8(&body[pos..headers_end])
            .map_err(|_| ContentError::Malformed("headers are not UTF-8"))?;
        let (mut name, mut content_type) = (None, None);
        for line in headers.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("content-disposition") {
                name = disposition_param(value, "name");
            } else if key.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_owned());
            }
        }
        let start = headers_end + 4;
        let end = find(body, &closing, start)
            .ok_or(ContentError::Malformed("part without closing boundary"))?;
        modules.push(Module {
            name: name.ok_or(ContentError::Malformed("part without a name"))?,
            content_type,
            bytes: body[start..end].to_vec(),
        });
        pos = end + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, data) in parts {
            b.extend_from_slice(
                format!(
                    "--XyZ\r\ncontent-disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\ncontent-type: application/javascript+module\r\n\r\n"
                )
                .as_bytes(),
            );
            b.extend_from_slice(data);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"--XyZ--\r\n");
        b
    }

    const CT: &str = "multipart/form-data; boundary=XyZ";

    #[test]
    fn parses_modules_with_binary_bytes_and_the_entrypoint() {
        let wasm: &[u8] = &[0, 97, 115, 109, 13, 10, 45, 45];
        let content = VersionContent::parse(
            CT,
            Some("index.js"),
            &body(&[("index.js", b"export default {}"), ("lib/app.wasm", wasm)]),
        )
        .unwrap();
        assert_eq!(content.main_module, "index.js");
        assert_eq!(content.modules.len(), 2);
        assert_eq!(content.modules[1].bytes, wasm);
        let digests = content.digests();
        assert_eq!(digests[0].name, "index.js");
        assert_eq!(
            digests[0].sha256,
            sha256_hex(b"export default {}"),
            "sha256 of the module's exact bytes"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn refuses_what_is_not_a_versions_modules() {
        let ok = body(&[("index.js", b"x")]);
        assert!(matches!(
            VersionContent::parse("application/javascript", Some("index.js"), b"x"),
            Err(ContentError::NotMultipart(_))
        ));
        assert_eq!(
            VersionContent::parse(CT, None, &ok),
            Err(ContentError::NoEntrypoint)
        );
        assert_eq!(
            VersionContent::parse(CT, Some("main.js"), &ok),
            Err(ContentError::NoMainModule("main.js".into()))
        );
        let escape = body(&[("../../etc/passwd", b"x")]);
        assert!(matches!(
            VersionContent::parse(CT, Some("../../etc/passwd"), &escape),
            Err(ContentError::UnsafeName(_))
        ));
        assert!(matches!(
            VersionContent::parse(CT, Some("index.js"), b"--XyZ\r\nno end"),
            Err(ContentError::Malformed(_))
        ));
        for bad in ["/abs.js", "a//b.js", "./a.js", "c:\\x.js", ""] {
            assert!(!safe_name(bad), "{bad}");
        }
        assert!(safe_name("chunks/a-1.js"));
    }

    fn digest(name: &str, data: &[u8]) -> ModuleDigest {
        ModuleDigest {
            name: name.into(),
            sha256: sha256_hex(data),
        }
    }

    #[test]
    fn identical_modules_compare_equal_whatever_their_order() {
        let source = [digest("index.js", b"a"), digest("app.wasm", b"b")];
        let uploaded = [digest("app.wasm", b"b"), digest("index.js", b"a")];
        assert!(compare(&source, &uploaded).is_empty());
    }

    #[test]
    fn every_difference_is_reported() {
        let source = [digest("index.js", b"a"), digest("app.wasm", b"b")];
        let uploaded = [digest("index.js", b"a!"), digest("extra.js", b"c")];
        let found = compare(&source, &uploaded);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(matches!(&found[0], Mismatch::Changed { name, .. } if name == "index.js"));
        assert_eq!(found[1], Mismatch::Missing("app.wasm".into()));
        assert_eq!(found[2], Mismatch::Extra("extra.js".into()));
        assert!(found[0].to_string().contains("index.js differs"));
        // Nothing uploaded is a mismatch too, never an empty "equal".
        assert_eq!(compare(&source, &[]).len(), 2);
    }
}
