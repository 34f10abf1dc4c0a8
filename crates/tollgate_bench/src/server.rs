//! The server under test (tollgate, or the reference server): a separate process with a clean environment, stopped with SIGTERM (killed if it will not stop).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// How to start the server: the binary, the arguments that make it serve, its working
/// directory and its environment.
#[derive(Debug, Clone)]
pub struct Launcher {
    pub binary: PathBuf,
    pub serve: Vec<String>,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
}

/// `tollgate serve` on a free loopback port.
pub fn tollgate_serve() -> Vec<String> {
    ["serve", "--bind", "127.0.0.1:0"]
        .map(String::from)
        .to_vec()
}

impl Launcher {
    /// The environment is cleared first, so a `STRIPE_SECRET_KEY` or `TOLLGATE_…` variable of
    /// the caller's can never point the server at real Stripe or another database.
    fn command(&self, worker: bool) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .current_dir(&self.dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "TOLLGATE_WORKER_ENABLED",
                if worker { "true" } else { "false" },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// `tollgate admin create --email EMAIL --password-stdin` with the same environment.
    pub async fn create_admin(&self, email: &str, password: &str) -> anyhow::Result<()> {
        let mut child = self
            .command(false)
            .args(["admin", "create", "--email", email, "--password-stdin"])
            .stdin(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {}", self.binary.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(format!("{password}\n").as_bytes()).await?;
        }
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .context("`tollgate admin create` did not finish within 60 s")??;
        if !output.status.success() {
            bail!(
                "`tollgate admin create` failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// Starts the server and waits (at most `deadline`) for the line that says where it
    /// listens: `tollgate listening on http://…` (or `reference listening on …`).
    pub async fn start(&self, worker: bool, deadline: Duration) -> anyhow::Result<Server> {
        let mut child = self
            .command(worker)
            .args(&self.serve)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stderr_tail = Arc::new(Mutex::new(Tail::default()));
        if let Some(stderr) = child.stderr.take() {
            let tail = stderr_tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut tail) = tail.lock() {
                        tail.lines += 1;
                        if tail.last.len() == 20 {
                            tail.last.pop_front();
                        }
                        tail.last.push_back(line);
                    }
                }
            });
        }
        let stdout = child.stdout.take().context("BUG: stdout is piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let found = tokio::time::timeout(deadline, async {
            while let Some(line) = lines.next_line().await? {
                if let Some((_, rest)) = line.split_once(" listening on ") {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    return anyhow::Ok(Some(url.to_string()));
                }
            }
            Ok(None)
        })
        .await;
        let mut server = Server {
            child,
            pid,
            url: String::new(),
            stderr_tail,
        };
        match found {
            Ok(Ok(Some(url))) if url.starts_with("http://127.0.0.1:") => server.url = url,
            Ok(Ok(Some(url))) => bail!("the server listens on {url}, not on loopback"),
            Ok(Ok(None)) | Ok(Err(_)) => bail!(
                "the server exited before listening; its last log lines:\n{}",
                server.stderr_tail()
            ),
            Err(_) => bail!(
                "the server did not report its address within {deadline:?}; its last log lines:\n{}",
                server.stderr_tail()
            ),
        }
        // Keep reading stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(server)
    }
}

/// The server's stderr: how many lines, and the last few for error messages.
#[derive(Debug, Default)]
struct Tail {
    lines: usize,
    last: VecDeque<String>,
}

/// A running server process; killed if dropped without `stop`.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub pid: u32,
    pub url: String,
    stderr_tail: Arc<Mutex<Tail>>,
}

impl Server {
    /// `utime + stime` of the server process, in clock ticks.
    pub fn cpu_ticks(&self) -> anyhow::Result<u64> {
        crate::cpu::process_ticks(&self.pid.to_string())
    }

    pub fn stderr_tail(&self) -> String {
        self.stderr_tail
            .lock()
            .map(|tail| tail.last.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }

    /// Lines the server has logged so far (at `RUST_LOG=warn`: warnings and errors), with the
    /// last one, cut to 300 characters.
    pub fn log_lines(&self) -> (usize, Option<String>) {
        self.stderr_tail.lock().map_or((0, None), |tail| {
            let last = tail.last.back().map(|l| l.chars().take(300).collect());
            (tail.lines, last)
        })
    }

    /// SIGTERM (`kill -TERM`), then waits up to `deadline` for a graceful exit; kills it otherwise.
    pub async fn stop(mut self, deadline: Duration) -> anyhow::Result<()> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if !sent.is_ok_and(|s| s.success()) {
            self.child.kill().await?;
            bail!(
                "could not send SIGTERM to the server (pid {}); killed it",
                self.pid
            );
        }
        match tokio::time::timeout(deadline, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!(
                        "the server exited with {status} after SIGTERM; its last log lines:\n{}",
                        self.stderr_tail()
                    );
                }
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("the server did not stop within {deadline:?} of SIGTERM; killed it");
            }
        }
    }
}

/// `tollgate` next to this executable (both live in `target/release` after
/// `cargo build --release -p tollgate -p tollgate_bench`).
pub fn default_binary() -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()?.with_file_name("tollgate"))
}

/// `node` from this process's `PATH` (the server's own environment is cleared).
pub fn node_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|candidate| candidate.is_file())
        .context("no `node` on PATH: the reference server needs Node.js")
}

pub fn check_binary(path: &Path) -> anyhow::Result<()> {
    if !path.is_file() {
        bail!(
            "no tollgate binary at {}: run `cargo build --release -p tollgate` first, or pass --tollgate PATH",
            path.display()
        );
    }
    Ok(())
}
