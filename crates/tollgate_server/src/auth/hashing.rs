//! Password hashing off the runtime's threads: argon2 spends tens of milliseconds of CPU per
//! sign-up or sign-in, which on one of the runtime's few threads would hold up every request
//! sharing it, webhook acknowledgements included.

use async_trait::async_trait;
use tollgate_core::Secret;
use tollgate_core::password::{self, Hashing};

/// Runs argon2 on tokio's blocking pool.
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockingPool;

#[async_trait]
impl Hashing for BlockingPool {
    async fn hash(&self, password: Secret) -> String {
        off_runtime(move || password::hash(&password)).await
    }

    async fn verify(&self, password: Secret, stored: Option<String>) -> bool {
        off_runtime(move || password::verify_or_decoy(&password, stored.as_deref())).await
    }
}

async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        // A panic in argon2 is a bug: it surfaces in the request's task as it would have
        // there, and tokio does not cancel blocking tasks.
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn hashing_leaves_the_runtime_thread_free_for_other_tasks() {
        let hashing = tokio::spawn(BlockingPool.hash(Secret::new("correct horse".into())));
        // The runtime has one thread. Had the hash run on it, the task spawned first would
        // have finished before this one got a turn.
        tokio::spawn(async {}).await.expect("the other task");
        assert!(!hashing.is_finished());
        let stored = hashing.await.expect("the hash");
        assert!(
            BlockingPool
                .verify(Secret::new("correct horse".into()), Some(stored.clone()))
                .await
        );
        assert!(
            !BlockingPool
                .verify(Secret::new("wrong horse".into()), Some(stored))
                .await
        );
        assert!(
            !BlockingPool
                .verify(Secret::new("correct horse".into()), None)
                .await
        );
    }
}
