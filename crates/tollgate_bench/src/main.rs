//! `tollgate-bench`: measures a release build of tollgate from outside, as a separate process; prints figures, asserts nothing.

mod cpu;
mod database;
mod delivery;
mod events;
mod inbox;
mod report;
mod scratch;
mod server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::database::Database;
use crate::events::Plan;
use crate::inbox::AdminSession;
use crate::report::{Report, micros_per, millis, paired_verdict, per, rate, seconds, verdict};
use crate::scratch::Scratch;
use crate::server::{Launcher, Server};

#[derive(Parser, Debug)]
#[command(
    name = "tollgate-bench",
    about = "Benchmarks of a release build of tollgate (see docs/benchmarks.md)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Webhook ingestion: acknowledgement throughput, latency and CPU per delivery, then how fast the worker drains the inbox.
    Webhooks(WebhookArgs),
}

#[derive(clap::Args, Debug)]
struct WebhookArgs {
    /// Distinct events to send (plus 5% re-sends and 1% forgeries).
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Requests in flight, each on its own keep-alive HTTP/1.1 connection.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// `sqlite` (a fresh file) or `postgres://user@127.0.0.1:5432/db`, where a fresh database
    /// `tollgate_bench_<random>` is created for the run and dropped afterwards.
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Approximate size of each event's JSON.
    #[arg(long, default_value_t = 3000)]
    size_bytes: usize,
    /// The tollgate binary [default: `tollgate` next to this executable, i.e. target/release/tollgate].
    #[arg(long)]
    tollgate: Option<PathBuf>,
    /// Seed of the send order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How often the drain phase asks whether events are left (the drain time's resolution), in milliseconds.
    #[arg(long, default_value_t = 200)]
    poll_ms: u64,
    /// Deadline of each phase (sending, draining), in seconds.
    #[arg(long, default_value_t = 600)]
    phase_timeout: u64,
    /// tollgate instances sharing the database during the acknowledgement phase; each sender
    /// keeps to one of them (round-robin), as behind a load balancer. Above 1 it takes a
    /// PostgreSQL `--database`; the drain phase runs one instance.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// An extra `KEY=VALUE` in the server's environment (repeatable), e.g. to compare settings A/B.
    #[arg(long = "server-env", value_parser = parse_env)]
    server_env: Vec<(String, String)>,
    /// Measure the reference server in this directory first (Node and Express with
    /// Stripe's library: `crates/tollgate_bench/reference`, after `npm ci` there), on a database
    /// of its own, then tollgate, and compare their CPU per delivery: the machine's speed
    /// drifts, so only a pair measured together is a fair reading of "a tenth". The reference
    /// has no worker: its acknowledgement phase only.
    #[arg(long)]
    reference: Option<PathBuf>,
}

/// What is measured: a tollgate binary, or the reference server's script run by `node`.
enum Subject {
    Tollgate(PathBuf),
    Reference { node: PathBuf, script: PathBuf },
}

impl Subject {
    fn reference(dir: &Path) -> anyhow::Result<Self> {
        if !dir.join("node_modules").is_dir() {
            bail!(
                "{} has no node_modules: run `npm ci` there first",
                dir.display()
            );
        }
        let script = dir
            .join("server.js")
            .canonicalize()
            .with_context(|| format!("no server.js in {}", dir.display()))?;
        Ok(Self::Reference {
            node: server::node_binary()?,
            script,
        })
    }

    fn tollgate(args: &WebhookArgs) -> anyhow::Result<Self> {
        let binary = match &args.tollgate {
            Some(path) => path.clone(),
            None => server::default_binary()?,
        };
        server::check_binary(&binary)?;
        // The server runs in the temp dir: a relative path would be resolved from there.
        Ok(Self::Tollgate(binary.canonicalize()?))
    }

    fn launcher(&self, dir: PathBuf, env: Vec<(String, String)>) -> Launcher {
        let (binary, serve) = match self {
            Self::Tollgate(binary) => (binary.clone(), server::tollgate_serve()),
            Self::Reference { node, script } => (node.clone(), vec![script.display().to_string()]),
        };
        Launcher {
            binary,
            serve,
            dir,
            env,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Tollgate(binary) => binary.display().to_string(),
            Self::Reference { script, .. } => {
                format!("the issue's reference server (node {})", script.display())
            }
        }
    }
}

fn parse_env(pair: &str) -> Result<(String, String), String> {
    match pair.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{pair}`")),
    }
}

/// Start-up and shutdown are bounded too.
const START_DEADLINE: Duration = Duration::from_secs(120);
const STOP_DEADLINE: Duration = Duration::from_secs(30);
const ADMIN_EMAIL: &str = "bench@example.com";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tollgate-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Webhooks(args) => webhooks(args).await,
        }
    });
    match outcome {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tollgate-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn webhooks(args: WebhookArgs) -> anyhow::Result<Report> {
    if args.events == 0 || args.concurrency == 0 {
        bail!("--events and --concurrency must be at least 1");
    }
    let tollgate = Subject::tollgate(&args)?;
    let reference = args
        .reference
        .as_deref()
        .map(Subject::reference)
        .transpose()?;
    let Some(reference) = reference else {
        return Ok(run(&args, &tollgate).await?.0);
    };
    let mut report = Report::default();
    let (measured, reference_cost) = run(&args, &reference).await?;
    report.append(measured);
    let (measured, tollgate_cost) = run(&args, &tollgate).await?;
    report.append(measured);
    report.heading("side by side (issue 4: at most a tenth of the reference's CPU per delivery)");
    report.metric(
        "tollgate / reference CPU per delivery",
        paired_verdict(tollgate_cost, reference_cost),
    );
    Ok(report)
}

/// One subject on a database and in a temp dir of its own; returns its report and its
/// (server + database) CPU per delivery in µs.
async fn run(args: &WebhookArgs, subject: &Subject) -> anyhow::Result<(Report, f64)> {
    let scratch = Scratch::create()?;
    let database = Database::create(&args.database, scratch.path()).await?;
    // Whatever happens (an error, a deadline, Ctrl-C), the servers are killed when `measure`
    // is dropped, then the database this run created is dropped and the temp dir removed.
    let measured = tokio::select! {
        measured = measure(args, subject, &scratch, &database) => measured,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    if let Err(e) = database.remove().await {
        eprintln!("tollgate-bench: {e:#}");
    }
    drop(scratch);
    measured
}

/// CPU ticks of everyone involved at one instant.
struct Sample {
    server: u64,
    bench: u64,
    postgres: HashMap<u32, u64>,
}

impl Sample {
    fn take(servers: &[Server], postgres: Option<&str>) -> anyhow::Result<Self> {
        let mut ticks = 0;
        for server in servers {
            ticks += server.cpu_ticks()?;
        }
        Ok(Self {
            server: ticks,
            bench: cpu::process_ticks("self")?,
            postgres: postgres.map(cpu::postgres_ticks).unwrap_or_default(),
        })
    }
}

/// CPU spent between two samples.
struct Spent {
    server: Duration,
    bench: Duration,
    /// `None` when no PostgreSQL process is visible (SQLite, or a server elsewhere).
    database: Option<Duration>,
}

impl Spent {
    fn between(before: &Sample, after: &Sample, ticks: u64) -> Self {
        let database = (!after.postgres.is_empty()).then(|| {
            cpu::ticks_to_duration(cpu::ticks_between(&before.postgres, &after.postgres), ticks)
        });
        Self {
            server: cpu::ticks_to_duration(after.server.saturating_sub(before.server), ticks),
            bench: cpu::ticks_to_duration(after.bench.saturating_sub(before.bench), ticks),
            database,
        }
    }

    fn report(&self, report: &mut Report, work: &str, count: usize, postgres: bool) {
        report.metric(format!("server CPU per {work}"), per(self.server, count));
        match (self.database, postgres) {
            (_, false) => report.metric(
                format!("database CPU per {work}"),
                "included above (SQLite runs inside the server process)",
            ),
            (Some(database), true) => {
                report.metric(format!("database CPU per {work}"), per(database, count));
                report.metric(
                    format!("server + database CPU per {work}"),
                    per(self.server + database, count),
                );
            }
            (None, true) => report.metric(
                format!("database CPU per {work}"),
                "not measured (no postgres process visible in /proc)",
            ),
        }
        report.metric(
            format!("bench client CPU per {work}"),
            per(self.bench, count),
        );
    }

    fn total(&self) -> Duration {
        self.server + self.database.unwrap_or_default()
    }
}

/// The drain phase's outcome.
struct Drain {
    elapsed: Duration,
    spent: Spent,
    failed: bool,
    log_lines: (usize, Option<String>),
}

async fn measure(
    args: &WebhookArgs,
    subject: &Subject,
    scratch: &Scratch,
    database: &Database,
) -> anyhow::Result<(Report, f64)> {
    let ticks = cpu::ticks_per_second();
    let phase_deadline = Duration::from_secs(args.phase_timeout);
    let poll = Duration::from_millis(args.poll_ms.max(1));
    let secret = format!("whsec_bench_{:032x}", rand::random::<u128>());
    let password = format!("bench-{:032x}", rand::random::<u128>());
    let launcher = subject.launcher(
        scratch.path().to_path_buf(),
        vec![
            ("DATABASE_URL".into(), database.url().to_string()),
            ("STRIPE_WEBHOOK_SECRET".into(), secret.clone()),
            ("TOLLGATE_EMULATOR_STATE_FILE".into(), String::new()),
            // async-stripe warns on every 404, which the drain expects for its synthetic
            // invoices: errors only from it, as tollgate's own default filter has it.
            ("RUST_LOG".into(), "warn,stripe=error".into()),
        ]
        .into_iter()
        .chain(args.server_env.iter().cloned())
        .collect(),
    );
    let postgres = database.postgres_name();

    eprintln!(
        "tollgate-bench: generating {} events of ~{} bytes",
        args.events, args.size_bytes
    );
    let plan = Arc::new(Plan::generate(args.events, args.size_bytes, args.seed));
    let deliveries = plan.deliveries.len();

    let instances = match subject {
        Subject::Tollgate(_) => args.instances.max(1),
        Subject::Reference { .. } => 1,
    };
    if instances > 1 && postgres.is_none() {
        bail!("--instances above 1 needs a PostgreSQL --database: SQLite is one process's");
    }
    let mut servers = Vec::with_capacity(instances);
    for _ in 0..instances {
        servers.push(launcher.start(false, START_DEADLINE).await?);
    }
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    eprintln!(
        "tollgate-bench: sending {deliveries} deliveries to {} (worker off), {} at a time",
        urls.join(", "),
        args.concurrency
    );
    let before = Sample::take(&servers, postgres)?;
    let fired = tokio::time::timeout(
        phase_deadline,
        delivery::fire(&urls, &secret, plan.clone(), args.concurrency),
    )
    .await
    .with_context(|| format!("sending took longer than {phase_deadline:?}"))??;
    let after = Sample::take(&servers, postgres)?;
    let mut sent_log_lines = (0, None);
    for server in servers {
        let (lines, last) = server.log_lines();
        sent_log_lines = (sent_log_lines.0 + lines, last.or(sent_log_lines.1));
        server.stop(STOP_DEADLINE).await?;
    }
    let sent = Spent::between(&before, &after, ticks);
    let drain = match subject {
        Subject::Tollgate(_) => {
            Some(drain_inbox(&launcher, postgres, &password, poll, phase_deadline, ticks).await?)
        }
        Subject::Reference { .. } => None,
    };
    let stored = fired.acknowledged - fired.acknowledged_duplicates;

    let mut report = Report::default();
    report.heading(match subject {
        Subject::Tollgate(_) => "tollgate webhook ingestion benchmark",
        Subject::Reference { .. } => "the issue's reference server (acknowledgements only)",
    });
    report.metric(
        "server",
        if instances > 1 {
            format!(
                "{} ({instances} instances on one database)",
                subject.describe()
            )
        } else {
            subject.describe()
        },
    );
    report.metric("database", database.describe());
    report.metric(
        "machine",
        format!(
            "{} CPUs; server, database and this client share them",
            std::thread::available_parallelism().map_or(0, usize::from)
        ),
    );
    report.metric(
        "events",
        format!(
            "{} distinct invoice.paid events, {} bytes on average",
            plan.events,
            plan.average_body_len()
        ),
    );
    report.metric(
        "deliveries",
        format!(
            "{deliveries} = {} events + {} re-sends (5%) + {} forgeries (1%), order seeded with {}",
            plan.events, plan.duplicates, plan.forgeries, args.seed
        ),
    );
    report.metric(
        "concurrency",
        format!("{} keep-alive HTTP/1.1 connections", args.concurrency),
    );

    report.heading("acknowledgement phase (worker off)");
    report.metric("wall time", seconds(fired.elapsed));
    report.metric(
        "acknowledged events/s",
        format!(
            "{:.0} (2xx answers per second)",
            rate(fired.acknowledged, fired.elapsed)
        ),
    );
    report.metric(
        "deliveries/s",
        format!("{:.0}", rate(deliveries, fired.elapsed)),
    );
    report.metric("latency p50", millis(fired.latency(0.50)));
    report.metric("latency p99", millis(fired.latency(0.99)));
    report.metric("latency max", millis(fired.latency(1.0)));
    for (status, count) in &fired.statuses {
        report.metric(format!("answers {status}"), count.to_string());
    }
    report.metric(
        "unexpected answers",
        if fired.mismatches == 0 {
            "0 (2xx for events and re-sends, 400 for forgeries)".to_string()
        } else {
            format!(
                "{}, e.g. {}",
                fired.mismatches,
                fired.mismatch_examples.join("; ")
            )
        },
    );
    report.metric(
        "acknowledged as duplicates",
        format!(
            "{} (expected {})",
            fired.acknowledged_duplicates, plan.duplicates
        ),
    );
    report.metric(
        "events stored",
        format!("{stored} (expected {})", plan.events),
    );
    sent.report(&mut report, "delivery", deliveries, postgres.is_some());
    report.metric("server log lines (warn+)", log_lines(sent_log_lines));
    let (low, high) = if postgres.is_some() {
        (830.0, 1050.0)
    } else {
        (330.0, 390.0)
    };
    let cost = micros_per(sent.total(), deliveries);
    let Some(drain) = drain else {
        report.metric(
            "the issue's figure for this server",
            format!("≈{low:.0}–{high:.0} µs per delivery; tollgate's target is a tenth of what is measured here"),
        );
        return Ok((report, cost));
    };
    let target = if postgres.is_some() && sent.database.is_none() {
        "cannot tell: the database's CPU is not measured".to_string()
    } else {
        verdict(cost, low, high)
    };
    report.metric("CPU target (issue 4)", target);
    report_drain(
        &mut report,
        &drain,
        &fired,
        stored,
        poll,
        postgres.is_some(),
    );
    Ok((report, cost))
}

fn log_lines((count, last): (usize, Option<String>)) -> String {
    match last {
        Some(last) => format!("{count}, the last: {last}"),
        None => count.to_string(),
    }
}

/// Restarts the server with the worker on, on the same database, and waits until no event is
/// `received`.
async fn drain_inbox(
    launcher: &Launcher,
    postgres: Option<&str>,
    password: &str,
    poll: Duration,
    phase_deadline: Duration,
    ticks: u64,
) -> anyhow::Result<Drain> {
    launcher.create_admin(ADMIN_EMAIL, password).await?;
    let server = launcher.start(true, START_DEADLINE).await?;
    // The worker starts with the server, just before it prints its address.
    let drain_started = Instant::now();
    eprintln!(
        "tollgate-bench: restarted {} with the worker on; draining",
        server.url
    );
    let before = Sample::take(std::slice::from_ref(&server), postgres)?;
    let admin = AdminSession::login(&server.url, ADMIN_EMAIL, password).await?;
    loop {
        if !admin.has_events("received").await? {
            break;
        }
        if drain_started.elapsed() > phase_deadline {
            bail!("events were still `received` after {phase_deadline:?}");
        }
        tokio::time::sleep(poll).await;
    }
    let elapsed = drain_started.elapsed();
    let after = Sample::take(std::slice::from_ref(&server), postgres)?;
    let failed = admin.has_events("failed").await?;
    let log_lines = server.log_lines();
    server.stop(STOP_DEADLINE).await?;
    Ok(Drain {
        elapsed,
        spent: Spent::between(&before, &after, ticks),
        failed,
        log_lines,
    })
}

fn report_drain(
    report: &mut Report,
    drain: &Drain,
    fired: &delivery::Outcome,
    stored: usize,
    poll: Duration,
    postgres: bool,
) {
    report.heading("drain phase (server restarted on the same database, worker on)");
    report.metric(
        "drain time",
        format!("{} (polled every {})", seconds(drain.elapsed), millis(poll)),
    );
    let drained_per_second = rate(stored, drain.elapsed);
    report.metric("drained events/s", format!("{drained_per_second:.0}"));
    drain
        .spent
        .report(report, "drained event", stored, postgres);
    // Issue 4: the worker drains at least as fast as the reference server acknowledges (its
    // upper figure). Against tollgate's own acknowledgement rate it is shown too: whether a
    // burst as fast as this one would leave a backlog.
    let reference = if postgres { 1500.0 } else { 2900.0 };
    report.metric(
        "drain target (issue 4)",
        if drained_per_second >= reference {
            format!("met (≥ {reference:.0}/s, what the reference server acknowledges)")
        } else {
            format!("NOT met (< {reference:.0}/s, what the reference server acknowledges)")
        },
    );
    report.metric(
        "drain against this run's acknowledgements",
        if drained_per_second >= rate(fired.acknowledged, fired.elapsed) {
            "keeps up (drains at least as fast as tollgate acknowledged)"
        } else {
            "falls behind (drains slower than tollgate acknowledged: a backlog builds during such a burst)"
        },
    );
    report.metric(
        "server log lines (warn+)",
        log_lines(drain.log_lines.clone()),
    );
    report.metric(
        "events left failed",
        if drain.failed {
            "some (see the admin API)"
        } else {
            "none"
        },
    );
    report.metric(
        "note",
        "the worker fetches each event's invoice from Stripe, here the in-process emulator (its CPU is in the server's), \
         which answers 404 for these synthetic invoices, so each event ends `ignored`; the drain figures include that HTTP round trip",
    );
}
