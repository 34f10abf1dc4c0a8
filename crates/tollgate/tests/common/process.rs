//! Stopping a `tollgate` child the way a process manager does.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Sends SIGTERM and waits (up to 30 s) for the process to exit.
pub fn terminate(child: &mut Child, what: &str) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "{what} did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}
