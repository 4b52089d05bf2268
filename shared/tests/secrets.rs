//! The Secrets Manager adapter against a local Secrets Manager-compatible server (moto,
//! started by `infra/moto-local.sh` from `scripts/test.sh`).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::secrets::{AppSecrets, Secrets, SecretsError, SecretsManager};

async fn client() -> (aws_config::SdkConfig, aws_sdk_secretsmanager::Client) {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER").is_ok(),
        "needs a local Secrets Manager: run scripts/test.sh, or infra/moto-local.sh run -- cargo test"
    );
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    (config, client)
}

#[tokio::test]
async fn the_deployment_secret_is_read_and_parsed() {
    let (config, client) = client().await;
    let name = format!("agentgate-{}", uuid::Uuid::new_v4());
    let created = client
        .create_secret()
        .name(&name)
        .secret_string(r#"{"AGENTGATE_JWT_SECRET":"0123456789abcdef0123456789abcdef","OPENAI_API_KEY":"sk-from-secrets","ANTHROPIC_API_KEY":""}"#)
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_owned();
    let source = SecretsManager::new(&config);
    for id in [arn.as_str(), name.as_str()] {
        let s = AppSecrets::load(&source, id).await.unwrap();
        assert_eq!(s.jwt.expose(), "0123456789abcdef0123456789abcdef");
        assert_eq!(s.openai_api_key.unwrap().expose(), "sk-from-secrets");
        assert!(
            s.anthropic_api_key.is_none(),
            "an empty key means not configured"
        );
    }
}

#[tokio::test]
async fn a_missing_secret_is_a_clear_error_with_the_service_code() {
    let (config, _) = client().await;
    let err = SecretsManager::new(&config)
        .fetch("does-not-exist")
        .await
        .unwrap_err();
    match err {
        SecretsError::Unreadable { id, code, .. } => {
            assert_eq!(id, "does-not-exist");
            assert_eq!(code, "ResourceNotFoundException");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_secret_without_the_jwt_key_is_refused() {
    let (config, client) = client().await;
    let name = format!("agentgate-{}", uuid::Uuid::new_v4());
    client
        .create_secret()
        .name(&name)
        .secret_string(r#"{"OPENAI_API_KEY":"k"}"#)
        .send()
        .await
        .unwrap();
    let err = AppSecrets::load(&SecretsManager::new(&config), &name)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AGENTGATE_JWT_SECRET"), "{err}");
}
