//! Reading captures, with errors that say where.

use super::*;

/// Opens a capture with errors that name the file (an empty file or a directory too).
pub fn open_capture(path: &Path) -> Result<CaptureReader> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
    if meta.is_dir() {
        bail!("{} is a directory, not a capture", path.display());
    }
    if meta.len() == 0 {
        bail!(
            "{} is empty (0 bytes): not a pcap or pcapng capture",
            path.display()
        );
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let input = BufReader::with_capacity(256 * 1024, file);
    CaptureReader::new(input).map_err(|e| read_error(path, e))
}

/// A reading error as one line naming the file and, for damage, the byte offset.
pub fn read_error(path: &Path, e: CaptureError) -> anyhow::Error {
    match e {
        CaptureError::Damaged { records, detail } => {
            let (at, why) = match damage(path, records) {
                Ok((offset, why)) => (format!(" at byte offset {offset}"), why),
                Err(_) => (String::new(), None),
            };
            anyhow!(
                "{}: damaged{at}, after {records} good record{}: {}",
                path.display(),
                if records == 1 { "" } else { "s" },
                why.unwrap_or(detail)
            )
        }
        CaptureError::Io(e) => anyhow!("{}: {e}", path.display()),
        other => anyhow!("{}: {other}", path.display()),
    }
}

/// Reads a whole capture into memory.
pub fn read_all(path: &Path) -> Result<Vec<Record>> {
    let reader = open_capture(path)?;
    let mut out = Vec::new();
    for r in reader {
        out.push(r.map_err(|e| read_error(path, e))?);
    }
    Ok(out)
}

pub(super) fn read_u32(f: &mut BufReader<File>, at: u64, big: bool) -> io::Result<Option<u32>> {
    f.seek(SeekFrom::Start(at))?;
    let mut b = [0u8; 4];
    match f.read_exact(&mut b) {
        Ok(()) => Ok(Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where a capture that reads well for `good` records goes wrong: the byte offset of the first
/// structure that is cut short or inconsistent (with what is wrong with it), or else of the
/// record after the good ones.
pub(super) fn damage(path: &Path, good: u64) -> io::Result<(u64, Option<String>)> {
    let mut f = BufReader::new(File::open(path)?);
    let len = f.get_ref().metadata()?.len();
    let Some(magic) = read_u32(&mut f, 0, true)? else {
        return Ok((0, Some("file header cut short".to_owned())));
    };
    if magic == 0x0a0d_0d0a {
        return pcapng_damage(&mut f, len, good);
    }
    // Classic pcap: a 24-byte header, then records of 16 bytes + the captured length.
    let big = matches!(magic, 0xa1b2_c3d4 | 0xa1b2_3c4d);
    let mut at = 24u64;
    let mut n = 0u64;
    loop {
        if at >= len {
            return Ok((len, None));
        }
        if at + 16 > len {
            let why = format!("record header cut short ({} of 16 bytes)", len - at);
            return Ok((at, Some(why)));
        }
        let Some(incl) = read_u32(&mut f, at + 8, big)? else {
            return Ok((at, None));
        };
        let end = at + 16 + u64::from(incl);
        if end > len {
            let why = format!(
                "a record of {incl} bytes runs past the end of the file ({} bytes left)",
                len - at - 16
            );
            return Ok((at, Some(why)));
        }
        if n == good {
            return Ok((at, None));
        }
        n += 1;
        at = end;
    }
}

pub(super) fn pcapng_damage(
    f: &mut BufReader<File>,
    len: u64,
    good: u64,
) -> io::Result<(u64, Option<String>)> {
    let mut at = 0u64;
    let mut big = false;
    let mut packets = 0u64;
    let mut after_good: Option<u64> = None;
    loop {
        if at >= len {
            return Ok((after_good.unwrap_or(len), None));
        }
        let cut = || Some(format!("block header cut short ({} bytes left)", len - at));
        let Some(kind) = read_u32(f, at, big)? else {
            return Ok((at, cut()));
        };
        if kind == 0x0a0d_0d0a {
            // A section header carries its own byte order (0x1a2b3c4d).
            match read_u32(f, at + 8, true)? {
                Some(0x1a2b_3c4d) => big = true,
                Some(0x4d3c_2b1a) => big = false,
                Some(_) => {
                    let why = "section header with an unknown byte-order mark".to_owned();
                    return Ok((at, Some(why)));
                }
                None => return Ok((at, cut())),
            }
        }
        let Some(total) = read_u32(f, at + 4, big)? else {
            return Ok((at, cut()));
        };
        let total64 = u64::from(total);
        if total < 12 || total % 4 != 0 {
            return Ok((at, Some(format!("impossible block length {total}"))));
        }
        if at + total64 > len {
            let why = format!(
                "a block of {total} bytes runs past the end of the file ({} bytes left)",
                len - at
            );
            return Ok((at, Some(why)));
        }
        if read_u32(f, at + total64 - 4, big)? != Some(total) {
            let why = format!("block length {total} does not match the copy at its end");
            return Ok((at, Some(why)));
        }
        if packets >= good && after_good.is_none() {
            after_good = Some(at);
        }
        // Simple and enhanced packet blocks are the records.
        if matches!(kind, 3 | 6) {
            if packets == good {
                return Ok((at, None));
            }
            packets += 1;
        }
        at += total64;
    }
}
