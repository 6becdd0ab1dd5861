//! Static files under the web root, for `GET` (RFC 9110 9.3.1): paths are percent-decoded
//! (RFC 3986 2.1), dot segments refused and symlinks that leave the root caught.
//!
//! With the streaming of their content in the server's connection loop, this is the one place
//! in a service where the host's file system is touched.

use std::fs::File;
use std::path::Path;

use super::request::{reject, Reject};
use super::Status;

/// Decodes `%XX` escapes (RFC 3986 2.1).
fn percent_decode(path: &str) -> Option<Vec<u8>> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hi = char::from(*b.get(i + 1)?).to_digit(16)?;
            let lo = char::from(*b.get(i + 2)?).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

/// Opens the file a request path names under `root` (canonical). Refuses `..` segments
/// (plain or percent-encoded) and anything whose real path leaves the root (symlinks).
pub(super) fn open_static(root: &Path, path: &str) -> Result<(File, u64, &'static str), Reject> {
    let decoded = percent_decode(path).ok_or(reject(Status::BadRequest, "bad percent-encoding"))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| reject(Status::NotFound, "no such file"))?;
    if decoded.contains(['\0', '\\']) {
        return Err(reject(Status::BadRequest, "forbidden byte in path"));
    }
    let mut full = root.to_path_buf();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            // RFC 3986 5.2.4 would remove dot segments; a file server refuses them instead, so
            // no path can climb out of the root.
            ".." => return Err(reject(Status::Forbidden, "'..' in path")),
            s => full.push(s),
        }
    }
    let not_found = reject(Status::NotFound, "no such file");
    let escape = reject(Status::Forbidden, "path leaves the web root");
    let mut real = std::fs::canonicalize(&full).map_err(|_| not_found)?;
    if !real.starts_with(root) {
        return Err(escape);
    }
    if real.is_dir() {
        real = std::fs::canonicalize(real.join("index.html")).map_err(|_| not_found)?;
        if !real.starts_with(root) {
            return Err(escape);
        }
    }
    let file = File::open(&real).map_err(|_| not_found)?;
    let meta = file.metadata().map_err(|_| not_found)?;
    if !meta.is_file() {
        return Err(not_found);
    }
    Ok((file, meta.len(), content_type(&real)))
}

/// The media type of a file, by its extension.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("wasm") => "application/wasm",
        Some("pdf") => "application/pdf",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}
