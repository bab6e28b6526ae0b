//! The log-triage domain shared by `examples/log_triage.rs` and `benches/benches/parallel.rs`:
//! synthetic log lines, their parser, and per-window statistics. No streaming code here.

/// The services that log.
pub(crate) const SERVICES: [&str; 8] = [
    "auth", "billing", "cart", "db", "edge", "search", "mail", "ui",
];

/// Lines per statistics window.
pub(crate) const WINDOW: usize = 10_000;

/// Line `i` of the synthetic log (deterministic: a SplitMix64 hash of `i`).
pub(crate) fn line(i: u64) -> String {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let svc = SERVICES[(z % 8) as usize];
    let level = match (z >> 8) % 20 {
        0 => "ERROR",
        1 | 2 => "WARN",
        _ => "INFO",
    };
    let latency = (z >> 16) % 5_000 + ((z >> 40) % 4) * ((z >> 44) % 20_000);
    format!(
        "2026-11-30T12:00:00.{:06}Z svc={svc} level={level} latency_us={latency} req={:016x} msg=\"handled request\"",
        i % 1_000_000,
        z
    )
}

/// One parsed line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// Index into [`SERVICES`].
    pub svc: usize,
    /// Logged at level ERROR.
    pub error: bool,
    /// Request latency in microseconds.
    pub latency_us: u32,
}

/// Parses one line; `None` for a malformed one.
pub(crate) fn parse(line: &str) -> Option<Record> {
    let (mut svc, mut error, mut latency_us) = (None, None, None);
    for field in line.split(' ') {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        match key {
            "svc" => svc = SERVICES.iter().position(|s| *s == value),
            "level" => error = Some(value == "ERROR"),
            "latency_us" => latency_us = value.parse().ok(),
            _ => {}
        }
    }
    Some(Record {
        svc: svc?,
        error: error?,
        latency_us: latency_us?,
    })
}

/// Per-service figures of one window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WindowStats {
    /// ERROR lines per service.
    pub errors: [u32; 8],
    /// Median latency per service (0 if the service did not log).
    pub p50_us: [u32; 8],
    /// 99th-percentile latency per service.
    pub p99_us: [u32; 8],
}

/// The statistics of one window of records.
pub(crate) fn window_stats(records: &[Record]) -> WindowStats {
    let mut latencies: [Vec<u32>; 8] = Default::default();
    let mut errors = [0u32; 8];
    for r in records {
        latencies[r.svc].push(r.latency_us);
        errors[r.svc] += u32::from(r.error);
    }
    let (mut p50_us, mut p99_us) = ([0u32; 8], [0u32; 8]);
    for (s, l) in latencies.iter_mut().enumerate() {
        if l.is_empty() {
            continue;
        }
        l.sort_unstable();
        p50_us[s] = l[(l.len() - 1) / 2];
        p99_us[s] = l[(l.len() - 1) * 99 / 100];
    }
    WindowStats {
        errors,
        p50_us,
        p99_us,
    }
}

/// The reference: every window computed on one thread, in order.
pub(crate) fn sequential(lines: u64) -> Vec<WindowStats> {
    let records: Vec<Record> = (0..lines).filter_map(|i| parse(&line(i))).collect();
    records.chunks(WINDOW).map(window_stats).collect()
}
