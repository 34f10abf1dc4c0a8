//! `tollgate admin create` and `tollgate admin list`.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use tollgate_core::account::{self, AccountError, Role};
use tollgate_core::audit::Actor;
use tollgate_core::password::InPlace;
use tollgate_core::store::Page;
use tollgate_core::{AccountStore, Email, Secret, SystemClock};
use tollgate_server::{Config, serve};

use crate::Failure;
use crate::cli::CreateAdminArgs;

pub async fn create(config: Config, args: CreateAdminArgs) -> Result<(), Failure> {
    let email = Email::parse(&args.email).map_err(|_| {
        Failure::Usage(format!(
            "--email {:?} is not a valid email address",
            args.email
        ))
    })?;
    let password = read_password(args.password_stdin)?;
    let store = serve::open_store(&config)
        .await
        .context("opening the database")?;
    let created = account::register(
        &store,
        &SystemClock,
        &config.account_policy(),
        &InPlace,
        account::Registration {
            email,
            password: password.clone(),
            role: Role::Admin,
            actor: Some(Actor::Cli),
            signup: account::Signup::default(),
        },
    )
    .await;
    store.close().await;
    match created {
        Ok(user) => {
            println!(
                "created admin {} ({})",
                user.email.map(String::from).unwrap_or_default(),
                user.id
            );
            Ok(())
        }
        Err(AccountError::WeakPassword(e)) => Err(Failure::Usage(format!("password {e}"))),
        Err(AccountError::EmailUnavailable) => Err(Failure::Runtime(anyhow::anyhow!(
            "an account with this email already exists"
        ))),
        Err(e) => Err(Failure::Runtime(
            anyhow::Error::new(e).context("creating the admin"),
        )),
    }
}

pub async fn list(config: Config) -> Result<(), Failure> {
    let store = serve::open_store(&config)
        .await
        .context("opening the database")?;
    let admins = store
        .users(
            Some(Role::Admin),
            Page {
                limit: 1000,
                before: None,
            },
        )
        .await
        .context("listing admins")?;
    store.close().await;
    if admins.is_empty() {
        println!("no admins yet: create one with `tollgate admin create --email you@example.com`");
    }
    for admin in admins {
        println!(
            "{}  {}  created {}",
            admin.id,
            admin.email.map(String::from).unwrap_or_else(|| "-".into()),
            admin.created_at.date()
        );
    }
    Ok(())
}

fn read_password(from_stdin: bool) -> Result<Secret, Failure> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        if password.is_empty() {
            return Err(Failure::Usage("no password on standard input".into()));
        }
        return Ok(Secret::new(password));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(
            "no terminal to prompt for a password: use --password-stdin".into(),
        ));
    }
    let first = rpassword::prompt_password("Password: ").context("reading the password")?;
    let second = rpassword::prompt_password("Repeat it: ").context("reading the password")?;
    if first != second {
        return Err(Failure::Usage("the two passwords differ".into()));
    }
    Ok(Secret::new(first))
}
