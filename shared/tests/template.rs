//! `template.yaml` and the workspace agree: every function crate is deployed, every
//! deployed function is a crate, streaming families are deployed with response streaming,
//! and each function can reach its log group, the table and the secret.

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

/// Function crate binaries mapped to whether their `main` uses response streaming.
fn crates() -> BTreeMap<String, bool> {
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
        let streaming = main.contains("Invoke::Streaming");
        assert!(
            streaming || main.contains("Invoke::Buffered"),
            "{name}: main picks no invoke mode"
        );
        out.insert(name, streaming);
    }
    out
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
        let mode = res["Properties"]["FunctionUrlConfig"]["InvokeMode"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has no function URL"));
        assert_eq!(
            res["Properties"]["FunctionUrlConfig"]["AuthType"], "NONE",
            "{id}"
        );
        deployed.insert(
            binary.to_owned(),
            (id.to_owned(), mode == "RESPONSE_STREAM"),
        );

        let policy = serde_yaml::to_string(&res["Properties"]["Policies"]).unwrap();
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
        let logs = resources.values().any(|r| {
            r["Type"] == "AWS::Logs::LogGroup"
                && serde_yaml::to_string(&r["Properties"]["LogGroupName"])
                    .unwrap()
                    .contains(id)
        });
        assert!(logs, "{id} has no log group with a retention");
    }
    let crates = crates();
    assert_eq!(
        deployed.keys().collect::<Vec<_>>(),
        crates.keys().collect::<Vec<_>>(),
        "template functions and function crates differ"
    );
    for (bin, streaming) in crates {
        let (id, deployed_streaming) = &deployed[&bin];
        assert_eq!(
            *deployed_streaming, streaming,
            "{id}: InvokeMode disagrees with {bin}'s main"
        );
    }
}

#[test]
fn every_function_url_is_an_output() {
    let t = template();
    let outputs = serde_yaml::to_string(&t["Outputs"]).unwrap();
    for (id, res) in t["Resources"].as_mapping().unwrap() {
        if res["Type"] == "AWS::Serverless::Function" {
            let url = format!("{}Url.FunctionUrl", id.as_str().unwrap());
            assert!(outputs.contains(&url), "no output for {url}");
        }
    }
}
