//! Fixed-window rate limits on sign-in, per client IP and per account, kept in memory.
//! Several instances each keep their own windows: the limits are per instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimitConfig;

/// Counts events per key within a window; past `max`, callers are told how long to wait.
pub struct Limiter {
    max: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Limiter {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one event; `Err(seconds)` when the key is over its limit.
    pub fn hit(&self, key: &str) -> Result<(), u64> {
        self.check_and(key, true)
    }

    /// Tells whether the key is over its limit without counting an event.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.check_and(key, false)
    }

    pub fn reset(&self, key: &str) {
        self.lock().remove(key);
    }

    fn check_and(&self, key: &str, count: bool) -> Result<(), u64> {
        let now = Instant::now();
        let mut windows = self.lock();
        if windows.len() > 100_000 {
            // Bound memory under a flood of distinct keys: forget finished windows.
            let window = self.window;
            windows.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        if count {
            entry.1 += 1;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, u32)>> {
        // A panic while holding this lock cannot leave the map inconsistent: keep using it.
        self.windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub struct RateLimits {
    pub login_per_ip: Limiter,
    /// Attempts per account and client address (counted before the password is checked).
    pub login_attempts_per_account_and_ip: Limiter,
    /// Failures per account from anywhere: past it, attempts are slowed, not refused.
    pub login_failures_per_account: Limiter,
    pub login_slowdown: Duration,
    pub signup_per_ip: Limiter,
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            login_per_ip: Limiter::new(config.login_per_ip_per_minute, Duration::from_secs(60)),
            login_attempts_per_account_and_ip: Limiter::new(
                config.login_failures_per_account,
                Duration::from_secs(config.login_failure_window_seconds.max(1)),
            ),
            login_failures_per_account: Limiter::new(
                config.login_slowdown_after_failures,
                Duration::from_secs(config.login_failure_window_seconds.max(1)),
            ),
            login_slowdown: Duration::from_millis(config.login_slowdown_ms),
            signup_per_ip: Limiter::new(config.signup_per_ip_per_hour, Duration::from_secs(3600)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_limited_after_max_hits_and_others_are_not() {
        let limiter = Limiter::new(2, Duration::from_secs(60));
        assert!(limiter.hit("a").is_ok());
        assert!(limiter.hit("a").is_ok());
        let wait = limiter.hit("a").expect_err("limited");
        assert!((1..=60).contains(&wait));
        assert!(limiter.hit("b").is_ok());
        limiter.reset("a");
        assert!(limiter.check("a").is_ok());
    }

    #[test]
    fn checking_does_not_count() {
        let limiter = Limiter::new(1, Duration::from_secs(60));
        for _ in 0..5 {
            assert!(limiter.check("a").is_ok());
        }
    }
}
