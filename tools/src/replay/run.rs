//! The command: set up, feed the capture through the driver, write and compare the output.

use super::report::{print_diff, print_summary, summary_json};
use super::*;

/// Captures larger than this get a progress bar when stderr is a terminal.
pub(super) const PROGRESS_ABOVE: u64 = 16 << 20;

pub fn run(args: ReplayArgs) -> Result<ExitCode> {
    let setup = setup(&args)?;
    let mut mask = Mask::none();
    for list in &args.mask {
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            mask.add(name).map_err(|e| anyhow!("--mask: {e}"))?;
        }
    }
    if let Some(out) = &args.out {
        if same_file(out, &args.input) {
            bail!("--out {} would overwrite the input", out.display());
        }
        if args.expect.as_deref().is_some_and(|e| same_file(out, e)) {
            bail!("--out and --expect are the same file: nothing would be compared");
        }
    }
    let filter = match &args.filter {
        Some(text) => Some(Filter::parse(text).map_err(|e| anyhow!("--filter: {e}"))?),
        None => None,
    };
    let reader = open_capture(&args.input)?;
    let iface = Interface::new(setup.config.clone()).context("bad configuration")?;
    let host = Host::build(iface, &setup.settings, &setup.services).context("starting services")?;
    let mut replay = Driver::new(host, setup.options.clone());
    let mut trace = match &args.trace {
        Some(path) => {
            if same_file(path, &args.input) {
                bail!("--trace {} would overwrite the input", path.display());
            }
            replay.trace();
            let file =
                File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
            Some(io::BufWriter::new(file))
        }
        None => None,
    };
    let mut trace_error: Option<io::Error> = None;
    let mut trace_lines = 0u64;

    let mut writer = match &args.out {
        Some(path) => Some(
            CaptureWriter::create_for(path, "replay", setup.options.medium)
                .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let mut write_error: Option<CaptureError> = None;
    let mut ours: Option<Vec<Record>> = args.expect.as_ref().map(|_| Vec::new());
    // What the stack sends is read back as it is written: Ethernet, or raw IP on the IP medium.
    let out_link = match setup.options.medium {
        Medium::Ethernet => LinkType::Ethernet,
        Medium::Ip => LinkType::Raw,
    };
    let mut read_failure: Option<CaptureError> = None;
    let mut filtered = 0u64;
    {
        let mut sink = |ts: Duration, dir: Direction, frame: &[u8]| {
            // After a write error (a full disk) the replay goes on, for the summary.
            if let (Some(w), None) = (&mut writer, &write_error) {
                if let Err(e) = w.write(ts, dir, frame) {
                    write_error = Some(e);
                }
            }
            if let Some(list) = &mut ours {
                list.push(Record {
                    link: out_link,
                    ..Record::ethernet(ts, frame.to_vec(), Some(dir))
                });
            }
        };
        // A progress bar on long replays, only when a person watches.
        let size = std::fs::metadata(&args.input).map_or(0, |m| m.len());
        let progress = (!args.log.quiet
            && !args.json
            && size > PROGRESS_ABOVE
            && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| {
            let bar = indicatif::ProgressBar::new(size);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let mut read = 0u64;
        for record in reader {
            if let (Some(bar), Ok(r)) = (&progress, &record) {
                // Record headers are 16 to 32 bytes; the data dominates.
                read += r.data.len() as u64 + 24;
                if read % (1 << 20) < 2048 {
                    bar.set_position(read.min(size));
                }
            }
            match record {
                Ok(r) if filter.as_ref().is_some_and(|f| !f.matches_record(&r)) => filtered += 1,
                Ok(r) => {
                    replay.push(&r, &mut sink);
                    write_trace(
                        &mut replay,
                        trace.as_mut(),
                        &mut trace_error,
                        &mut trace_lines,
                    );
                }
                Err(e) => {
                    read_failure = Some(e);
                    break;
                }
            }
        }
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        replay.finish(&mut sink);
        write_trace(
            &mut replay,
            trace.as_mut(),
            &mut trace_error,
            &mut trace_lines,
        );
    }
    if let Some(mut t) = trace {
        if let Err(e) = io::Write::flush(&mut t) {
            trace_error.get_or_insert(e);
        }
    }
    if let (Some(e), Some(path)) = (trace_error, &args.trace) {
        bail!("writing {} failed: {e}", path.display());
    }
    let written = writer.as_ref().map_or(0, CaptureWriter::frames);
    if let Some(w) = writer {
        if let Err(e) = w.into_inner() {
            write_error.get_or_insert(CaptureError::Io(e));
        }
    }
    let report = replay.report().clone();

    if !args.log.quiet && !args.json {
        print_summary(&args, &setup, &replay);
        if let Some(f) = &filter {
            println!(
                "  filter       {filtered} records left out by '{}'",
                f.text()
            );
        }
        if let Some(path) = &args.out {
            let note = match Format::from_path(path) {
                Format::PcapNg => "",
                Format::Pcap => " (classic pcap: directions not marked)",
            };
            println!("  output       {}: {written} frames{note}", path.display());
        }
        if let Some(path) = &args.trace {
            let dropped = replay.tracer().map_or(0, |t| t.samples_dropped);
            let note = if dropped > 0 {
                format!(" ({dropped} left out: too many at one instant)")
            } else {
                String::new()
            };
            println!(
                "  trace        {}: {trace_lines} samples{note}",
                path.display()
            );
        }
    }
    if let Some(e) = write_error {
        let name = args
            .out
            .as_ref()
            .map_or(String::new(), |p| p.display().to_string());
        bail!("writing {name} failed: {e}");
    }
    if let Some(e) = read_failure {
        let what = if report.records == 0 {
            String::new()
        } else {
            format!(" (the {} records before it were replayed)", report.records)
        };
        return Err(anyhow!("{:#}{what}", read_error(&args.input, e)));
    }

    if args.json {
        let mut o = summary_json(&args, &setup, &replay, filtered);
        if let Some(path) = &args.out {
            let mut out = Object::new();
            out.put("path", path.display().to_string())
                .put("frames", written);
            o.put("output", out);
        }
        if let Some(path) = &args.trace {
            let mut t = Object::new();
            t.put("path", path.display().to_string())
                .put("samples", trace_lines);
            o.put("trace", t);
        }
        let mut same = true;
        if let (Some(path), Some(got)) = (&args.expect, &ours) {
            let expected = read_all(path)?;
            let c = compare(&expected, got, &mask);
            same = c.is_same();
            let mut e = Object::new();
            e.put("path", path.display().to_string())
                .put("same", same)
                .put("expected_frames", expected.len())
                .put("produced_frames", got.len())
                .put("matching", c.matched)
                .put("differences", c.differences.len())
                .put(
                    "masked",
                    args.mask
                        .iter()
                        .map(|m| Value::from(m.as_str()))
                        .collect::<Vec<_>>(),
                );
            o.put("expected", e);
        }
        println!("{o}");
        return Ok(if same {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if let (Some(path), Some(got)) = (&args.expect, &ours) {
        let expected = read_all(path)?;
        let c = compare(&expected, got, &mask);
        if c.is_same() {
            if !args.log.quiet {
                println!(
                    "  expected     {}: same ({} frames{})",
                    path.display(),
                    c.matched,
                    mask_note(&args.mask)
                );
            }
        } else {
            print_diff(path, &expected, got, &c.differences, args.max_diffs);
            println!(
                "{} difference{} from {} ({} frames expected, {} produced, {} matching{})",
                c.differences.len(),
                if c.differences.len() == 1 { "" } else { "s" },
                path.display(),
                expected.len(),
                got.len(),
                c.matched,
                mask_note(&args.mask)
            );
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the trace samples the replay took since the last call, one JSON object a line;
/// counts them in `lines`.
pub(super) fn write_trace(
    replay: &mut Driver,
    out: Option<&mut io::BufWriter<File>>,
    error: &mut Option<io::Error>,
    lines: &mut u64,
) {
    let Some(out) = out else { return };
    for sample in replay.trace_samples() {
        if error.is_none() {
            match writeln!(out, "{}", sample.json()) {
                Ok(()) => *lines += 1,
                Err(e) => *error = Some(e),
            }
        }
    }
}

pub(super) fn short_seconds(d: Duration) -> String {
    let s = replay::seconds(d);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

pub(super) fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

pub(super) fn mask_note(mask: &[String]) -> String {
    if mask.is_empty() {
        String::new()
    } else {
        format!("; masked: {}", mask.join(","))
    }
}
