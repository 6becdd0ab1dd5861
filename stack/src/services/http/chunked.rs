//! Request bodies: by `Content-Length`, or in the chunked transfer coding (RFC 9112 7.1), by
//! our own strict decoder that takes bytes as they arrive.

/// Longest chunk-size line (size, extensions) we accept.
const MAX_CHUNK_LINE: usize = 1024;

/// Why a body could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BodyError {
    Malformed(&'static str),
    TooLarge,
}

/// Where the chunked decoder stands (RFC 9112 7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Chunk {
    /// Before the first hex digit of a chunk-size.
    SizeStart,
    /// In the chunk-size.
    Size {
        value: u64,
        digits: u8,
    },
    /// Whitespace after the size (BWS before a `;`).
    SizeSpace {
        value: u64,
    },
    /// In the chunk extensions (ignored, RFC 9112 7.1.1), `len` bytes so far.
    Ext {
        value: u64,
        len: usize,
    },
    /// After the CR of the size line.
    SizeLf {
        value: u64,
    },
    /// In chunk-data.
    Data {
        remaining: u64,
    },
    /// The CR after chunk-data.
    DataCr,
    /// The LF after chunk-data.
    DataLf,
    /// In the trailer section; `line` bytes of the current field line so far.
    Trailer {
        line: usize,
    },
    /// After a CR in the trailer section; `empty` when it ends an empty line.
    TrailerLf {
        empty: bool,
    },
    Done,
}

/// Reads a body: by length, or chunked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BodyReader {
    Length {
        remaining: u64,
    },
    Chunked {
        state: Chunk,
        total: u64,
        trailer: usize,
    },
}

impl BodyReader {
    /// Consumes body bytes from `input`, handing the content to `sink`. Returns how much of
    /// `input` was used and whether the body is complete.
    pub(super) fn feed(
        &mut self,
        input: &[u8],
        max_body: u64,
        max_trailer: usize,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(usize, bool), BodyError> {
        match self {
            BodyReader::Length { remaining } => {
                let n = input
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                sink(input.get(..n).unwrap_or_default());
                *remaining -= n as u64;
                Ok((n, *remaining == 0))
            }
            BodyReader::Chunked {
                state,
                total,
                trailer,
            } => {
                let mut i = 0;
                while i < input.len() {
                    if let Chunk::Data { remaining } = state {
                        let avail = input.len() - i;
                        let n = avail.min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                        sink(input.get(i..i + n).unwrap_or_default());
                        i += n;
                        *remaining -= n as u64;
                        if *remaining == 0 {
                            *state = Chunk::DataCr;
                        }
                        continue;
                    }
                    let Some(&b) = input.get(i) else { break };
                    i += 1;
                    *state = chunk_step(*state, b, total, trailer, max_body, max_trailer)?;
                    if *state == Chunk::Done {
                        return Ok((i, true));
                    }
                }
                Ok((i, *state == Chunk::Done))
            }
        }
    }
}

/// One byte of chunk framing outside chunk-data.
///
/// RFC 9112 7.1: `chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF`,
/// `chunk-size = 1*HEXDIG`, `last-chunk = 1*("0") [ chunk-ext ] CRLF`,
/// `chunked-body = *chunk last-chunk trailer-section CRLF`. We are strict: CRLF only (no bare
/// LF), sizes that fit 64 bits, bounded extension and trailer lengths.
fn chunk_step(
    state: Chunk,
    b: u8,
    total: &mut u64,
    trailer: &mut usize,
    max_body: u64,
    max_trailer: usize,
) -> Result<Chunk, BodyError> {
    use BodyError::Malformed;
    let hex = |b: u8| char::from(b).to_digit(16).map(u64::from);
    Ok(match state {
        Chunk::SizeStart => match hex(b) {
            Some(d) => Chunk::Size {
                value: d,
                digits: 1,
            },
            None => return Err(Malformed("chunk size is not hexadecimal")),
        },
        Chunk::Size { value, digits } => match b {
            b'\r' => Chunk::SizeLf { value },
            b';' => Chunk::Ext { value, len: 0 },
            b' ' | b'\t' => Chunk::SizeSpace { value },
            _ => match hex(b) {
                Some(d) if digits < 16 => Chunk::Size {
                    value: (value << 4) | d,
                    digits: digits + 1,
                },
                Some(_) => return Err(Malformed("chunk size too long")),
                None => return Err(Malformed("chunk size is not hexadecimal")),
            },
        },
        Chunk::SizeSpace { value } => match b {
            b' ' | b'\t' => Chunk::SizeSpace { value },
            b';' => Chunk::Ext { value, len: 0 },
            _ => return Err(Malformed("junk after chunk size")),
        },
        Chunk::Ext { value, len } => match b {
            b'\r' => Chunk::SizeLf { value },
            b'\n' => return Err(Malformed("bare LF in chunk line")),
            _ if len + 1 >= MAX_CHUNK_LINE => return Err(Malformed("chunk extension too long")),
            b'\t' | 0x20..=0x7e | 0x80..=0xff => Chunk::Ext {
                value,
                len: len + 1,
            },
            _ => return Err(Malformed("control byte in chunk extension")),
        },
        Chunk::SizeLf { value } => {
            if b != b'\n' {
                return Err(Malformed("chunk size line not ended by CRLF"));
            }
            if value == 0 {
                Chunk::Trailer { line: 0 }
            } else {
                // RFC 9110 15.5.14: 413 for content larger than the server will process.
                *total = total.checked_add(value).ok_or(BodyError::TooLarge)?;
                if *total > max_body {
                    return Err(BodyError::TooLarge);
                }
                Chunk::Data { remaining: value }
            }
        }
        Chunk::Data { remaining } => Chunk::Data { remaining },
        Chunk::DataCr => match b {
            b'\r' => Chunk::DataLf,
            _ => return Err(Malformed("chunk data longer than its size")),
        },
        Chunk::DataLf => match b {
            b'\n' => Chunk::SizeStart,
            _ => return Err(Malformed("chunk data not ended by CRLF")),
        },
        Chunk::Trailer { line } => {
            *trailer += 1;
            if *trailer > max_trailer {
                return Err(Malformed("trailer section too large"));
            }
            match b {
                b'\r' => Chunk::TrailerLf { empty: line == 0 },
                b'\n' => return Err(Malformed("bare LF in trailer section")),
                b'\t' | 0x20..=0x7e | 0x80..=0xff => Chunk::Trailer { line: line + 1 },
                _ => return Err(Malformed("control byte in trailer section")),
            }
        }
        Chunk::TrailerLf { empty } => match b {
            // Trailer fields are read and discarded (RFC 9110 6.5.1 lets a recipient do so).
            b'\n' if empty => Chunk::Done,
            b'\n' => Chunk::Trailer { line: 0 },
            _ => return Err(Malformed("trailer line not ended by CRLF")),
        },
        Chunk::Done => Chunk::Done,
    })
}
