//! `template.yaml` and the workspace agree: every function crate is deployed, every
//! deployed function is a crate, streaming families are deployed with response streaming,
//! the stream consumer is subscribed to the table's stream with a filter on the attribute
//! the store writes, and each function can reach its log group, the table and the secret.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn template() -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap()).unwrap()
}

/// How a function is invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Function URL with response streaming.
    Streaming,
    /// Function URL, buffered.
    Buffered,
    /// The table's stream, through an event source mapping.
    TableStream,
}

/// Function crate binaries mapped to how their `main` runs.
fn crates() -> BTreeMap<String, Kind> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("functions")).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let bin_section = manifest
            .split("[[bin]]")
            .nth(1)
            .expect("a function crate declares its [[bin]]");
        let name = bin_section
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = "))
            .unwrap()
            .trim_matches('"')
            .to_owned();
        let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
        let kind = if main.contains("Invoke::Streaming") {
            Kind::Streaming
        } else if main.contains("Invoke::Buffered") {
            Kind::Buffered
        } else if main.contains("run_events") {
            Kind::TableStream
        } else {
            panic!("{name}: main picks no way to be invoked")
        };
        out.insert(name, kind);
    }
    out
}

/// How the template invokes function `id`, checking what each way needs.
fn deployed_kind(id: &str, res: &Value) -> Kind {
    let url = &res["Properties"]["FunctionUrlConfig"];
    if !url.is_null() {
        assert_eq!(url["AuthType"], "NONE", "{id}");
        return match url["InvokeMode"].as_str() {
            Some("RESPONSE_STREAM") => Kind::Streaming,
            Some("BUFFERED") => Kind::Buffered,
            other => panic!("{id}: unknown InvokeMode {other:?}"),
        };
    }
    let events = res["Properties"]["Events"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{id} has neither a function URL nor events"));
    let stream = events
        .values()
        .find(|e| e["Type"] == "DynamoDB")
        .unwrap_or_else(|| panic!("{id}: no DynamoDB stream event"));
    let p = &stream["Properties"];
    assert!(
        serde_yaml::to_string(&p["Stream"])
            .unwrap()
            .contains("Table.StreamArn"),
        "{id} reads another stream"
    );
    assert_eq!(
        p["FunctionResponseTypes"][0], "ReportBatchItemFailures",
        "{id}: failures are reported per record"
    );
    let pattern: serde_json::Value = serde_json::from_str(
        p["FilterCriteria"]["Filters"][0]["Pattern"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(pattern["eventName"], serde_json::json!(["INSERT"]), "{id}");
    // The filter keys on the attribute the store writes on memory-feeding messages.
    let attr = agentgate_shared::store::dynamo::items::MESSAGE_MEMORY;
    assert_eq!(
        pattern["dynamodb"]["NewImage"][attr]["S"],
        serde_json::json!([{"exists": true}]),
        "{id}: the filter must match the store's memory attribute"
    );
    Kind::TableStream
}

/// The IAM statements of a function: its SAM `Policies`, or those of its explicit `Role`.
fn policies(resources: &serde_yaml::Mapping, id: &str, res: &Value) -> String {
    let role = &res["Properties"]["Role"];
    if role.is_null() {
        return serde_yaml::to_string(&res["Properties"]["Policies"]).unwrap();
    }
    let role = serde_yaml::to_string(role).unwrap();
    let (_, role_res) = resources
        .iter()
        .find(|(rid, r)| {
            r["Type"] == "AWS::IAM::Role"
                && role.contains(&format!("{}.Arn", rid.as_str().unwrap()))
        })
        .unwrap_or_else(|| panic!("{id}: role {role} is not in the template"));
    serde_yaml::to_string(&role_res["Properties"]["Policies"]).unwrap()
}

#[test]
fn every_crate_is_deployed_and_every_function_is_a_crate() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    let mut deployed = BTreeMap::new();
    for (id, res) in resources {
        if res["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let id = id.as_str().unwrap();
        let binary = res["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} names no Binary"));
        assert_eq!(res["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
        deployed.insert(binary.to_owned(), (id.to_owned(), deployed_kind(id, res)));

        let policy = policies(resources, id, res);
        assert!(
            policy.contains("secretsmanager:GetSecretValue"),
            "{id} cannot read the secret"
        );
        assert!(
            policy.contains("Table.Arn") || policy.contains("Table"),
            "{id} cannot reach the table"
        );
        assert!(
            !policy.contains("dynamodb:*") && !policy.contains("Resource: '*'"),
            "{id}: least privilege"
        );
        let own_group =
            serde_yaml::to_string(&res["Properties"]["LoggingConfig"]["LogGroup"]).unwrap();
        let logs = resources.iter().any(|(rid, r)| {
            r["Type"] == "AWS::Logs::LogGroup"
                && !r["Properties"]["RetentionInDays"].is_null()
                && (serde_yaml::to_string(&r["Properties"]["LogGroupName"])
                    .unwrap()
                    .contains(id)
                    || own_group.contains(rid.as_str().unwrap()))
        });
        assert!(logs, "{id} has no log group with a retention");
    }
    let crates = crates();
    assert_eq!(
        deployed.keys().collect::<Vec<_>>(),
        crates.keys().collect::<Vec<_>>(),
        "template functions and function crates differ"
    );
    for (bin, kind) in crates {
        let (id, deployed_kind) = &deployed[&bin];
        assert_eq!(
            *deployed_kind, kind,
            "{id}: the template invokes it unlike {bin}'s main runs"
        );
    }
}

#[test]
fn every_function_url_is_an_output() {
    let t = template();
    let outputs = serde_yaml::to_string(&t["Outputs"]).unwrap();
    for (id, res) in t["Resources"].as_mapping().unwrap() {
        if res["Type"] == "AWS::Serverless::Function"
            && !res["Properties"]["FunctionUrlConfig"].is_null()
        {
            let url = format!("{}Url.FunctionUrl", id.as_str().unwrap());
            assert!(outputs.contains(&url), "no output for {url}");
        }
    }
}

/// Every function that runs model turns may stream from exactly the Bedrock models the
/// deployment lists, and only when it lists some: one action, the parameter's ARNs as the
/// resources, under the `HasBedrock` condition; the owner API has no Bedrock access.
#[test]
fn bedrock_access_is_one_action_on_exactly_the_listed_models() {
    let t = template();
    assert_eq!(
        t["Parameters"]["BedrockModelArns"]["Type"],
        "CommaDelimitedList"
    );
    assert_eq!(t["Parameters"]["BedrockModelArns"]["Default"], "");
    let env = serde_yaml::to_string(&t["Globals"]["Function"]["Environment"]).unwrap();
    assert!(
        env.contains("AGENTGATE_BEDROCK") && env.contains("HasBedrock"),
        "{env}"
    );
    let resources = t["Resources"].as_mapping().unwrap();
    let mut with_access = Vec::new();
    for (id, res) in resources {
        if res["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let id = id.as_str().unwrap();
        let policy = policies(resources, id, res);
        let actions: Vec<&str> = policy
            .split(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == ',')
            .filter(|w| w.starts_with("bedrock:"))
            .collect();
        if actions.is_empty() {
            continue;
        }
        assert_eq!(
            actions,
            vec!["bedrock:InvokeModelWithResponseStream"],
            "{id}"
        );
        assert!(
            policy.contains("HasBedrock"),
            "{id}: only when models are listed"
        );
        let resource = policy
            .split("bedrock:InvokeModelWithResponseStream")
            .nth(1)
            .and_then(|rest| rest.lines().nth(1))
            .unwrap_or_default()
            .trim()
            .to_owned();
        assert_eq!(resource, "Resource: !Ref BedrockModelArns", "{id}");
        with_access.push(id.to_owned());
    }
    with_access.sort();
    assert_eq!(
        with_access,
        [
            "LinksFunction",
            "MemoryFunction",
            "OpenaiFunction",
            "RunsFunction",
            "WidgetFunction"
        ]
    );
}
