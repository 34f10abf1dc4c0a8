//! The one tollgate binary: parses the command line, loads configuration once, and runs a command.
//! Exit codes: 0 success, 1 a command that failed, 2 bad usage or bad configuration.

mod admin;
mod cli;
mod emulator;
mod events;
mod ledger;
mod local_stripe;
mod serve;

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;
use tollgate_server::Config;

use crate::cli::{AdminCommand, Cli, Command, ConfigCommand, EventsCommand, LedgerCommand};

/// A failure with the exit code it deserves.
pub enum Failure {
    /// Bad input from the person at the terminal: exit 2.
    Usage(String),
    /// The command could not do its work: exit 1.
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Runtime(error)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = match load_config(&cli, &env) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("tollgate: configuration error: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tollgate: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command.unwrap_or_default() {
            Command::Serve(_) => serve::run(config).await,
            Command::Migrate => serve::migrate(config).await,
            Command::Admin {
                command: AdminCommand::Create(args),
            } => admin::create(config, args).await,
            Command::Admin {
                command: AdminCommand::List,
            } => admin::list(config).await,
            Command::Events {
                command: EventsCommand::List { status, limit },
            } => events::list(config, status, limit).await,
            Command::Events {
                command: EventsCommand::Replay { id, failed },
            } => events::replay(config, id, failed).await,
            Command::Ledger {
                command: LedgerCommand::Verify,
            } => ledger::verify(config).await,
            Command::Emulator(args) => emulator::run(config, args).await,
            Command::Config {
                command: ConfigCommand::Check,
            } => {
                print!("{}", config.to_redacted_toml());
                Ok(())
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("tollgate: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(error)) => {
            eprintln!("tollgate: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Configuration from file and environment, then the command line's own flags on top.
fn load_config(cli: &Cli, env: &BTreeMap<String, String>) -> Result<Config, String> {
    let mut config = Config::load(cli.config.as_deref(), env).map_err(|e| e.to_string())?;
    if let Some(format) = cli.log_format {
        config.server.log_format = format.into();
    }
    if let Some(Command::Serve(args)) = &cli.command
        && let Some(bind) = args.bind
    {
        config.server.bind = bind;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}
