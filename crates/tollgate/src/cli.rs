//! The command line: subcommands and flags, with `--help` on each.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tollgate_server::config::LogFormat;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "A self-hosted billing service between your application and Stripe.",
    long_about = "A self-hosted billing service between your application and Stripe.\n\n\
        Configuration comes from defaults, then tollgate.toml (or --config), then the environment \
        (TOLLGATE_*, DATABASE_URL, PORT, STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY, \
        STRIPE_WEBHOOK_SECRET, APP_BASE_URL).\n\nWith no command, tollgate serves."
)]
pub struct Cli {
    /// Configuration file (default: ./tollgate.toml when it exists).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default command); applies migrations first.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage admin accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Inspect and replay the Stripe webhook inbox.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Check the credit ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Serve the offline Stripe emulator on its own (API, hosted pages, webhooks, test clocks).
    Emulator(EmulatorArgs),
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

impl Default for Command {
    fn default() -> Self {
        Command::Serve(ServeArgs::default())
    }
}

#[derive(Args, Default)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 or 0.0.0.0:8080 (overrides server.bind).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an admin account (password from a prompt, or stdin with --password-stdin).
    Create(CreateAdminArgs),
    /// List admin accounts.
    List,
}

#[derive(Args)]
pub struct CreateAdminArgs {
    /// The admin's email address.
    #[arg(long)]
    pub email: String,
    /// Read the password from the first line of standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Subcommand)]
pub enum EventsCommand {
    /// List stored events, newest first.
    List {
        /// Only events with this status: received, processed, failed or ignored.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Queue an event (or every failed one) to be processed again from Stripe's current state.
    Replay {
        /// The event id (evt_…).
        #[arg(required_unless_present = "failed", conflicts_with = "failed")]
        id: Option<String>,
        /// Replay every failed event.
        #[arg(long)]
        failed: bool,
    },
}

#[derive(Subcommand)]
pub enum LedgerCommand {
    /// Check that every cached balance equals the sum of its entries; exit 1 if any does not.
    Verify,
}

#[derive(Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:12111")]
    pub bind: SocketAddr,
    /// Keep the emulator's state in this file across restarts.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Deliver webhooks to this URL (repeatable), signed with --webhook-secret.
    #[arg(long = "webhook-url", value_name = "URL")]
    pub webhook_urls: Vec<String>,
    /// The whsec_ secret deliveries to --webhook-url are signed with.
    #[arg(long, default_value = "whsec_emulator_local")]
    pub webhook_secret: String,
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print it, every secret shown as [redacted].
    Check,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(arg: LogFormatArg) -> Self {
        match arg {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}
