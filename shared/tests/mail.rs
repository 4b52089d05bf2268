//! The mail adapters: Amazon SES v2 against moto's SES v2 (server mode, started by
//! `scripts/test.sh` through `infra/moto-local.sh`, which sets `AWS_ENDPOINT_URL_SESV2`),
//! and the local outbox.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::mail::{Email, Mailer, OutboxMailer, SesMailer};

fn email(to: &str, subject: &str) -> Email {
    Email {
        to: to.into(),
        subject: subject.into(),
        text: "Your code is 123456. It is valid for 10 minutes.".into(),
    }
}

#[tokio::test]
async fn ses_sends_from_a_verified_sender() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SESV2").expect(
        "the SES tests need moto: run scripts/test.sh, or infra/moto-local.sh run -- cargo test",
    );
    let config = aws_config::load_from_env().await;
    let sender = format!("noreply-{}@example.com", uuid::Uuid::new_v4().simple());
    // moto, like SES in its sandbox, refuses senders that are not verified identities.
    let refused = SesMailer::new(&config, sender.clone())
        .send(&email("carol@example.com", "refused"))
        .await;
    assert!(refused.is_err(), "an unverified sender must be refused");
    aws_sdk_sesv2::Client::new(&config)
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .unwrap();
    let subject = format!("Your code {}", uuid::Uuid::new_v4());
    SesMailer::new(&config, sender.clone())
        .send(&email("carol@example.com", &subject))
        .await
        .unwrap();
    // What moto recorded as sent (never reset: other tests share the server).
    let data = reqwest::get(format!("{endpoint}/moto-api/data.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
    let sent: Vec<&serde_json::Value> = v["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m.to_string().contains(&subject))
        .collect();
    assert_eq!(sent.len(), 1, "{}", v["ses"]);
    let m = sent[0].to_string();
    assert!(
        m.contains(&sender) && m.contains("carol@example.com") && m.contains("123456"),
        "{m}"
    );
}

#[tokio::test]
async fn the_outbox_keeps_each_message_as_a_json_file() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = OutboxMailer::new(dir.path().join("outbox"));
    outbox.send(&email("a@example.com", "one")).await.unwrap();
    outbox.send(&email("b@example.com", "two")).await.unwrap();
    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);
    let read: Vec<Email> = files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect();
    assert_eq!(read[0], email("a@example.com", "one"));
    assert_eq!(read[1].to, "b@example.com");
}
