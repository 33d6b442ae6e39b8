//! The results table and the server's memory, read from `/proc`.

use std::fmt::Write as _;

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `sqlite` or `postgres`.
    pub db: &'static str,
    pub mode: String,
    pub concurrency: usize,
    pub orders_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub errors: u64,
    /// Mails delivered per second over the run (outbox drained).
    pub mail_per_sec: Option<f64>,
    /// `outbox_pending` when the load stopped.
    pub outbox_pending: Option<u64>,
    pub memory: Memory,
    /// Server CPU (user + system) per accepted order, in ms.
    pub cpu_ms_per_order: Option<f64>,
}

/// The CPU time a process has used so far (user + system, `/proc/<pid>/stat`).
pub fn cpu_time(pid: Option<u32>) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // Fields after the `(comm)`, which may hold spaces: state is field 3,
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let per_sec = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok()?;
    Some(std::time::Duration::from_millis(
        ticks * 1000 / per_sec.max(1),
    ))
}

fn optional(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
}

/// The server's resident memory (`VmRSS`), its peak (`VmHWM`) and the part
/// of it that is heap and stacks (`RssAnon`; the rest is mapped files, such as
/// SQLite's shared WAL index), in kB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss_kb: Option<u64>,
    pub hwm_kb: Option<u64>,
    pub anon_kb: Option<u64>,
}

impl Memory {
    /// Reads `/proc/<pid>/status`; fields stay `None` where it cannot be read.
    pub fn of_process(pid: Option<u32>) -> Self {
        pid.and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .map(|status| Self::parse(&status))
            .unwrap_or_default()
    }

    /// Parses the `VmRSS:`, `VmHWM:` and `RssAnon:` lines (`VmRSS:\t   12345 kB`).
    pub fn parse(status: &str) -> Self {
        let field = |name: &str| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(name)?.strip_prefix(':')?;
                rest.split_whitespace().next()?.parse().ok()
            })
        };
        Self {
            rss_kb: field("VmRSS"),
            hwm_kb: field("VmHWM"),
            anon_kb: field("RssAnon"),
        }
    }
}

fn megabytes(kb: Option<u64>) -> String {
    // kB values fit an f64 exactly far beyond any real process size.
    #[allow(clippy::cast_precision_loss)]
    kb.map_or_else(
        || "-".to_string(),
        |kb| format!("{:.1}", kb as f64 / 1024.0),
    )
}

const HEADER: [&str; 14] = [
    "db",
    "mode",
    "concurrency",
    "orders/s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "errors",
    "mail/s",
    "outbox end",
    "RSS MB",
    "HWM MB",
    "anon MB",
    "CPU ms/order",
];

/// Renders the rows as an aligned plain-text table (first column left, the
/// numbers right-aligned), one line per row after a header and a rule.
pub fn render(rows: &[Row]) -> String {
    let cells: Vec<[String; 14]> = rows
        .iter()
        .map(|r| {
            [
                r.db.to_string(),
                r.mode.clone(),
                r.concurrency.to_string(),
                format!("{:.1}", r.orders_per_sec),
                format!("{:.2}", r.p50_ms),
                format!("{:.2}", r.p99_ms),
                format!("{:.2}", r.p999_ms),
                r.errors.to_string(),
                optional(r.mail_per_sec, 0),
                r.outbox_pending
                    .map_or_else(|| "-".to_string(), |n| n.to_string()),
                megabytes(r.memory.rss_kb),
                megabytes(r.memory.hwm_kb),
                megabytes(r.memory.anon_kb),
                optional(r.cpu_ms_per_order, 3),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |row: &[String]| {
        let mut out = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i == 0 {
                let _ = write!(out, "{cell:<width$}");
            } else {
                let _ = write!(out, "  {cell:>width$}");
            }
        }
        out.push('\n');
        out
    };
    let mut table = line(&HEADER.map(String::from));
    let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    table.push_str(&"-".repeat(total));
    table.push('\n');
    for row in &cells {
        table.push_str(&line(row));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mode: &str, concurrency: usize, orders_per_sec: f64) -> Row {
        Row {
            db: "sqlite",
            mode: mode.into(),
            concurrency,
            orders_per_sec,
            p50_ms: 1.234,
            p99_ms: 12.0,
            p999_ms: 150.5,
            errors: 0,
            mail_per_sec: Some(4000.0),
            outbox_pending: Some(12),
            memory: Memory {
                rss_kb: Some(51_200),
                hwm_kb: None,
                anon_kb: Some(20_480),
            },
            cpu_ms_per_order: None,
        }
    }

    #[test]
    fn memory_is_read_from_proc_status_lines() {
        let status = "Name:\torder_fellow-cli\nVmHWM:\t   81920 kB\nVmRSS:\t   40960 kB\nRssAnon:\t   10240 kB\n";
        assert_eq!(
            Memory::parse(status),
            Memory {
                rss_kb: Some(40_960),
                hwm_kb: Some(81_920),
                anon_kb: Some(10_240),
            }
        );
        assert_eq!(Memory::parse("Name:\tx\n"), Memory::default());
    }

    #[test]
    fn the_own_process_has_a_resident_size() {
        let me = Memory::of_process(Some(std::process::id()));
        assert!(me.rss_kb.is_some_and(|kb| kb > 0));
        assert!(me.hwm_kb >= me.rss_kb);
    }

    #[test]
    fn the_table_aligns_every_column_and_shows_megabytes() {
        let table = render(&[
            row("keep-alive", 16, 1234.56),
            row("new-connection", 64, 98.0),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].starts_with("db "));
        assert!(lines[1].chars().all(|c| c == '-'));
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{table}");
        assert!(lines[2].starts_with("sqlite "));
        assert!(lines[2].contains("1234.6"));
        assert!(lines[2].contains("1.23"));
        assert!(lines[2].contains("150.50"));
        assert!(lines[2].contains("50.0"), "51200 kB is 50.0 MB: {table}");
        assert!(lines[3].contains(" - "), "unknown HWM shows '-': {table}");
        assert!(lines[3].contains(" 20.0 "), "anon MB: {table}");
        assert!(
            lines[3].trim_end().ends_with(" -"),
            "no CPU figure: {table}"
        );
    }
}
