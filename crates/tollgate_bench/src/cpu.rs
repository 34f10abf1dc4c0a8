//! CPU time of processes as the kernel accounts it (`/proc/<pid>/stat`), in microseconds.

use std::collections::HashMap;
use std::time::Duration;

/// Clock ticks per second: `getconf CLK_TCK` once, else Linux's usual 100.
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|ticks| *ticks > 0)
        .unwrap_or(100)
}

/// Converts clock ticks to a duration.
pub fn ticks_to_duration(ticks: u64, per_second: u64) -> Duration {
    Duration::from_micros(ticks.saturating_mul(1_000_000) / per_second.max(1))
}

/// `utime + stime` of one process (all its threads), in clock ticks.
pub fn process_ticks(pid: &str) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&stat)
        .map(|(_, ticks)| ticks)
        .ok_or_else(|| anyhow::anyhow!("cannot read /proc/{pid}/stat"))
}

/// `(comm, utime + stime)` from a `/proc/<pid>/stat` line. The command name is in parentheses and
/// may itself contain spaces or parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    let mut fields = stat.get(close + 1..)?.split_whitespace();
    // After the comm come field 3 (state) onwards; utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((comm, utime + stime))
}

/// CPU ticks of the PostgreSQL processes that work for `database`: its backends (their title
/// names the database) and the shared background processes (postmaster, WAL writer,
/// checkpointer, …), whose titles name no client. Backends of other databases are left out.
/// Empty when no PostgreSQL process is visible (e.g. the server runs elsewhere).
pub fn postgres_ticks(database: &str) -> HashMap<u32, u64> {
    let mut found = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((comm, ticks)) = parse_stat(&stat) else {
            continue;
        };
        if !comm.starts_with("postgres") {
            continue;
        }
        let title = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
            .unwrap_or_default();
        // A backend's title is `postgres: <cluster>: <user> <database> <host>(<port>) <state>`.
        let is_backend = title.contains('(') || title.contains("[local]");
        let ours = title.split_whitespace().any(|word| word == database);
        if !is_backend || ours {
            found.insert(pid, ticks);
        }
    }
    found
}

/// Ticks spent between two `postgres_ticks` samples; a process that appeared in between counts whole.
pub fn ticks_between(before: &HashMap<u32, u64>, after: &HashMap<u32, u64>) -> u64 {
    after
        .iter()
        .map(|(pid, ticks)| ticks.saturating_sub(before.get(pid).copied().unwrap_or(0)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::parse_stat;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line =
            "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 137 42 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat(line), Some(("tokio (rt) x", 179)));
    }
}
