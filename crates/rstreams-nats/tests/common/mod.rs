//! The test fixture: a real `nats-server` with JetStream on a free loopback port and a
//! temporary store directory, killed by its pid when the fixture drops.
//!
//! The executable is `$RSTREAMS_NATS_SERVER`, else `nats-server` on the `PATH`, else the one
//! `./scripts/test` installs under `.tools/`. Without one the tests are skipped with a message,
//! except under `CI=true`, where they fail.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(crate) struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    pub store: PathBuf,
    exe: PathBuf,
}

fn executable() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("RSTREAMS_NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    if Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return Some(PathBuf::from("nats-server"));
    }
    let local =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/nats-venv/bin/nats-server");
    local.exists().then_some(local)
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Starts a server, or skips (returns `None`) when none is installed, or panics under CI.
pub(crate) fn server() -> Option<NatsServer> {
    match NatsServer::start() {
        Ok(s) => Some(s),
        Err(why) if in_ci() => panic!("CI=true and the NATS server cannot start: {why}"),
        Err(why) => {
            eprintln!("SKIPPED: no NATS server ({why}); run ./scripts/test to install one");
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

static NEXT: AtomicU64 = AtomicU64::new(0);

impl NatsServer {
    pub(crate) fn start() -> Result<NatsServer, String> {
        let exe = executable().ok_or("nats-server not found (set RSTREAMS_NATS_SERVER)")?;
        let store = std::env::temp_dir().join(format!(
            "rstreams-nats-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&store).map_err(|e| e.to_string())?;
        let mut s = NatsServer {
            child: None,
            port: free_port(),
            store,
            exe,
        };
        s.launch()?;
        Ok(s)
    }

    fn launch(&mut self) -> Result<(), String> {
        let child = Command::new(&self.exe)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.exe.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(format!("nats-server exited at start: {status}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("nats-server did not listen within 10 s".into())
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (by pid) and waits for it to exit.
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same store: streams and consumers survive.
    pub(crate) fn restart(&mut self) {
        self.kill();
        self.launch().expect("nats-server restarts");
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
