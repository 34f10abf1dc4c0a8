//! `tollgate ledger verify`: every cached credit balance against the sum of its entries.

use anyhow::{Context, anyhow};
use tollgate_core::LedgerStore;
use tollgate_server::{Config, serve};

use crate::Failure;

pub async fn verify(config: Config) -> Result<(), Failure> {
    let store = serve::open_store(&config)
        .await
        .context("opening the database")?;
    let discrepancies = store.verify_ledger().await.context("reading the ledger")?;
    let negative = store
        .negative_balances(1000)
        .await
        .context("reading balances")?;
    store.close().await;
    for balance in &negative {
        println!(
            "negative  user {}  balance {}  since {}",
            balance.user_id,
            balance.credits,
            balance
                .negative_since
                .map(|t| t.to_string())
                .unwrap_or_default()
        );
    }
    if discrepancies.is_empty() {
        println!(
            "ledger ok: every balance equals the sum of its entries ({} flagged negative)",
            negative.len()
        );
        return Ok(());
    }
    for d in &discrepancies {
        println!(
            "MISMATCH  user {}  cached {}  sum of entries {}",
            d.user_id, d.cached, d.sum_of_entries
        );
    }
    Err(Failure::Runtime(anyhow!(
        "{} balance(s) differ from their entries",
        discrepancies.len()
    )))
}
