//! A deployment-like backend for a function's real binary: a table in DynamoDB Local, the
//! deployment secret in a local Secrets Manager, and a local Runtime API feeding the
//! sample events.

use std::sync::Arc;

use serde_json::json;

use super::samples::{SAMPLE_OWNER, prepare_samples, sample_event_files, seed_sample_assistant};
use super::{jwt, runtime};
use crate::auth::JwtKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::{Settings, Trigger};
use crate::provider::{ProviderSettings, Providers};
use crate::secret::SecretString;
use crate::state::AppState;

/// A deployment-like backend for running a function's real binary: a fresh table in
/// DynamoDB Local, the deployment secret in a local Secrets Manager, and the sample
/// assistant stored. Needs `AWS_ENDPOINT_URL_DYNAMODB` and
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER` (set by `scripts/test.sh`).
pub struct Deployment {
    /// Environment for the function process, as the template would set it.
    pub env: Vec<(String, String)>,
    /// A state on the deployment's table, to prepare data and check results. Like the
    /// deployed functions, it leaves memories to the table's stream.
    pub state: AppState,
    pub table: String,
    /// A user JWT of the sample owner, signed with the deployment's secret.
    pub owner_jwt: String,
}

impl Deployment {
    pub async fn create() -> Self {
        for var in [
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        ] {
            assert!(
                std::env::var(var).is_ok(),
                "{var} is not set: run scripts/test.sh"
            );
        }
        let config = aws_config::load_from_env().await;
        let (ddb, table) = super::fresh_table(&config).await;
        let jwt_secret = crate::random::hex_string::<32>();
        let secret = aws_sdk_secretsmanager::Client::new(&config)
            .create_secret()
            .name(format!("agentgate-{}", uuid::Uuid::new_v4()))
            .secret_string(json!({"AGENTGATE_JWT_SECRET": jwt_secret, "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": ""}).to_string())
            .send()
            .await
            .expect("create secret");
        let arn = secret.arn().unwrap_or_default().to_owned();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let state = AppState::new(
            Arc::new(crate::store::DynamoStore::new(
                ddb,
                table.clone(),
                clock.clone(),
            )),
            Providers::new(&ProviderSettings::default()).expect("providers"),
            JwtKeys::new(&SecretString::new(jwt_secret)).expect("jwt keys"),
            clock,
            Settings {
                memory_trigger: Trigger::Stream,
                ..Settings::default()
            },
        );
        seed_sample_assistant(&state).await;
        let mut env: Vec<(String, String)> = [
            ("AGENTGATE_STORE", "dynamodb".to_owned()),
            ("AGENTGATE_TABLE", table.clone()),
            ("AGENTGATE_SECRET_ARN", arn),
            ("AGENTGATE_ECHO_DELAY_MS", "0".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/agentgate".to_owned(),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/22/[$LATEST]0123".to_owned(),
            ),
            ("RUST_LOG", "info".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for var in [
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
        ] {
            if let Ok(v) = std::env::var(var) {
                env.push((var.to_owned(), v));
            }
        }
        Self {
            env,
            owner_jwt: jwt(&state, SAMPLE_OWNER),
            state,
            table,
        }
    }

    /// Everything the table's stream holds so far, as the Lambda event that would deliver
    /// it (`{"Records": [...]}`), read from DynamoDB Local's Streams API. Its records are
    /// what Lambda's poller passes on; the template's filter would drop some before.
    pub async fn stream_event(&self) -> serde_json::Value {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("DynamoDB Local");
        let http = reqwest::Client::new();
        // DynamoDB Local checks that a request is signed, not the signature; it keeps the
        // tables of each access key and region apart, so those must be the SDK's.
        let credential = format!(
            "AWS4-HMAC-SHA256 Credential={}/20261122/{}/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
            std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
            std::env::var("AWS_REGION").unwrap_or_default(),
        );
        let call = |target: &'static str, body: serde_json::Value| {
            let req = http
                .post(&endpoint)
                .header("x-amz-target", target)
                .header("content-type", "application/x-amz-json-1.0")
                .header("authorization", credential.as_str())
                .body(body.to_string());
            async move {
                let resp = req.send().await.expect("DynamoDB Local answers");
                let status = resp.status();
                let v: serde_json::Value = resp.json().await.expect("JSON answer");
                assert!(status.is_success(), "{target}: {v}");
                v
            }
        };
        let table = call(
            "DynamoDB_20120810.DescribeTable",
            json!({"TableName": self.table}),
        )
        .await;
        let arn = table["Table"]["LatestStreamArn"]
            .as_str()
            .expect("the table has a stream")
            .to_owned();
        let stream = call(
            "DynamoDBStreams_20120810.DescribeStream",
            json!({"StreamArn": arn}),
        )
        .await;
        let mut records = Vec::new();
        for shard in stream["StreamDescription"]["Shards"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let it = call(
                "DynamoDBStreams_20120810.GetShardIterator",
                json!({"StreamArn": arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
            )
            .await;
            let mut iterator = it["ShardIterator"].clone();
            for _ in 0..20 {
                if iterator.is_null() {
                    break;
                }
                let page = call(
                    "DynamoDBStreams_20120810.GetRecords",
                    json!({"ShardIterator": iterator}),
                )
                .await;
                let got = page["Records"].as_array().cloned().unwrap_or_default();
                if got.is_empty() {
                    break;
                }
                records.extend(got.into_iter().map(|mut r| {
                    r["eventSourceARN"] = json!(arn);
                    r
                }));
                iterator = page["NextShardIterator"].clone();
            }
        }
        json!({ "Records": records })
    }

    /// Runs `binary` (a function's Lambda executable) against a local Runtime API serving
    /// `function`'s sample events, and returns each event's name with the reply to it.
    pub async fn invoke_samples(
        &self,
        binary: &str,
        function: &str,
    ) -> Vec<(String, runtime::Reply)> {
        prepare_samples(&self.state, function).await;
        let files = sample_event_files(function, &self.owner_jwt);
        let events: Vec<(String, String)> = files
            .iter()
            .enumerate()
            .map(|(i, (_, raw))| (format!("req-{i}"), raw.clone()))
            .collect();
        let replies = self.invoke(binary, function, events).await;
        files
            .into_iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let id = format!("req-{i}");
                let reply = replies
                    .iter()
                    .find(|r| r.request_id == id)
                    .cloned()
                    .unwrap_or_else(|| panic!("no reply to {name}"));
                (name, reply)
            })
            .collect()
    }

    /// Runs `binary` against a local Runtime API serving `events` (request id, raw event)
    /// in order, and returns its replies once there is one per event.
    pub async fn invoke(
        &self,
        binary: &str,
        function: &str,
        events: Vec<(String, String)>,
    ) -> Vec<runtime::Reply> {
        let count = events.len();
        let rt = runtime::FakeRuntime::start(events).await;
        let mut child = self.spawn(binary, function, &rt, &[]);
        let replies = rt.wait_for(count, 60).await;
        let _ = child.kill().await;
        assert!(
            rt.init_error().is_none(),
            "cold start failed: {:?}",
            rt.init_error()
        );
        replies
    }

    /// Runs `binary` on `function`'s sample events (there must be `expected` of them) and
    /// checks each HTTP response with `check`, after checking the invocation succeeded and
    /// used response streaming or not as `streamed` says.
    pub async fn check_samples(
        &self,
        binary: &str,
        function: &str,
        expected: usize,
        streamed: bool,
        check: fn(&str, &super::TestResponse),
    ) {
        let replies = self.invoke_samples(binary, function).await;
        assert_eq!(replies.len(), expected, "events/{function}");
        for (name, reply) in replies {
            assert!(!reply.error, "{name}: {:?}", reply.body);
            assert_eq!(reply.streamed, streamed, "{name}: response streaming");
            check(&name, &reply.response());
        }
    }

    /// Starts `binary` without `var` and checks that the failed cold start was reported to
    /// the Runtime API naming the variable.
    pub async fn assert_cold_start_names(&self, binary: &str, var: &str) {
        let err = self
            .cold_start_error(binary, var)
            .await
            .expect("the runtime was told about the failed cold start");
        assert!(err.contains(var), "{err}");
    }

    /// Starts `binary` with this deployment's environment less `drop_var`, and returns
    /// what it posted to `/runtime/init/error`.
    pub async fn cold_start_error(&self, binary: &str, drop_var: &str) -> Option<String> {
        let rt = runtime::FakeRuntime::start(Vec::new()).await;
        let mut cmd = tokio::process::Command::new(binary);
        cmd.envs(self.env.iter().filter(|(k, _)| k != drop_var).cloned())
            .env_remove(drop_var)
            .env("AWS_LAMBDA_RUNTIME_API", rt.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "agentgate-test")
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn function");
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait()).await;
        let _ = child.kill().await;
        rt.init_error()
    }

    /// Starts `binary` as `function` on this deployment, polling `rt`, with `extra`
    /// variables on top of the deployment's.
    pub fn spawn(
        &self,
        binary: &str,
        function: &str,
        rt: &runtime::FakeRuntime,
        extra: &[(&str, &str)],
    ) -> tokio::process::Child {
        tokio::process::Command::new(binary)
            .envs(self.env.iter().cloned())
            .envs(extra.iter().copied())
            .env("AWS_LAMBDA_RUNTIME_API", rt.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("agentgate-{function}"))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn function")
    }
}
