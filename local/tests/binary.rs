//! The `agentgate` binary as a user runs it: `serve` with no configuration, `dev-token`
//! printing a JWT the server accepts, and a restart that keeps data.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_agentgate");

struct Server(Child, String);

impl Server {
    /// Stops the server as `kill` and service managers do (`SIGTERM`), and waits for it.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.0.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running after SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data: &std::path::Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("AGENTGATE_DATA_DIR", data)
        .env_remove("AGENTGATE_JWT_SECRET")
        .env_remove("AGENTGATE_STORE")
        .env("AGENTGATE_ECHO_DELAY_MS", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Server(child, url)
}

#[tokio::test]
async fn serve_and_dev_token_work_with_no_configuration_and_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let jwt = common::dev_token(dir.path(), "alice");
    let http = reqwest::Client::new();
    let id = {
        let mut server = start(dir.path());
        let id = common::create_assistant(
            &server.1,
            &jwt,
            "cli",
            json!({"type==agent/access_mode": "public_no_auth"}),
        )
        .await;
        // Stopped right after the write, before the store's group commit would run: the
        // server commits it on its way out and exits cleanly.
        assert!(server.terminate().success());
        id
    };
    // A token minted before the restart is still valid after it: the secret was kept.
    let server = start(dir.path());
    let resp = http
        .get(format!("{}/assistants/{id}", server.1))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let run = json!({"assistant_id": id, "input": [{"role": "human", "content": "ping"}]});
    let text = common::run_text(&server.1, None, &run).await;
    assert!(text.contains("You said: ping"), "{text}");
    assert!(text.ends_with("event: end\ndata: {}\n\n"));
}

#[test]
fn a_second_server_on_the_same_data_folder_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let _first = start(dir.path());
    let second = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("AGENTGATE_DATA_DIR", dir.path())
        .env_remove("AGENTGATE_JWT_SECRET")
        .env_remove("AGENTGATE_STORE")
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("in use by another agentgate process"), "{err}");
}
