//! The results table and the server's memory, read from `/proc`.

use std::fmt::Write as _;

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub mode: String,
    pub concurrency: usize,
    pub orders_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub errors: u64,
    pub memory: Memory,
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

const HEADER: [&str; 10] = [
    "mode",
    "concurrency",
    "orders/s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "errors",
    "RSS MB",
    "HWM MB",
    "anon MB",
];

/// Renders the rows as an aligned plain-text table (first column left, the
/// numbers right-aligned), one line per row after a header and a rule.
pub fn render(rows: &[Row]) -> String {
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                r.mode.clone(),
                r.concurrency.to_string(),
                format!("{:.1}", r.orders_per_sec),
                format!("{:.2}", r.p50_ms),
                format!("{:.2}", r.p99_ms),
                format!("{:.2}", r.p999_ms),
                r.errors.to_string(),
                megabytes(r.memory.rss_kb),
                megabytes(r.memory.hwm_kb),
                megabytes(r.memory.anon_kb),
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
            mode: mode.into(),
            concurrency,
            orders_per_sec,
            p50_ms: 1.234,
            p99_ms: 12.0,
            p999_ms: 150.5,
            errors: 0,
            memory: Memory {
                rss_kb: Some(51_200),
                hwm_kb: None,
                anon_kb: Some(20_480),
            },
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
        assert!(lines[0].starts_with("mode "));
        assert!(lines[1].chars().all(|c| c == '-'));
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{table}");
        assert!(lines[2].starts_with("keep-alive "));
        assert!(lines[2].contains("1234.6"));
        assert!(lines[2].contains("1.23"));
        assert!(lines[2].contains("150.50"));
        assert!(lines[2].contains("50.0"), "51200 kB is 50.0 MB: {table}");
        assert!(lines[3].contains(" - "), "unknown HWM shows '-': {table}");
        assert!(lines[3].trim_end().ends_with("20.0"));
    }
}
