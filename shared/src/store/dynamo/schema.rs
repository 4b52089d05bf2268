//! The table's definition, read from the `Table` resource of `template.yaml`.
//!
//! The template is the one declaration of the table: deployments get it from
//! CloudFormation, and local or test setups create the same key schema, indexes, stream
//! and TTL from the same text, compiled into the binary.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use serde::Deserialize;

/// The SAM template this build was made from.
pub const TEMPLATE: &str = include_str!("../../../../template.yaml");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableSpec {
    pub attribute_definitions: Vec<AttrDef>,
    pub key_schema: Vec<KeyDef>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexDef>,
    pub time_to_live_specification: TtlDef,
    pub stream_specification: Option<StreamDef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttrDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyDef {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyDef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlDef {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDef {
    pub stream_view_type: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("template.yaml has no readable Resources.Table.Properties: {0}")]
    Template(String),
    #[error("cannot build the table request: {0}")]
    Build(String),
    #[error("DynamoDB refused to create the table: {0}")]
    Create(String),
}

/// The table's definition as declared in the template.
pub fn table_spec() -> Result<TableSpec, SchemaError> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(TEMPLATE).map_err(|e| SchemaError::Template(e.to_string()))?;
    let props = doc
        .get("Resources")
        .and_then(|r| r.get("Table"))
        .and_then(|t| t.get("Properties"))
        .cloned()
        .ok_or_else(|| SchemaError::Template("missing".into()))?;
    serde_yaml::from_value(props).map_err(|e| SchemaError::Template(e.to_string()))
}

fn key_schema(defs: &[KeyDef]) -> Result<Vec<KeySchemaElement>, SchemaError> {
    defs.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| SchemaError::Build(e.to_string()))
        })
        .collect()
}

/// Creates the table (on-demand, with its indexes, stream and TTL) unless it exists.
pub async fn create_table(client: &Client, name: &str) -> Result<(), SchemaError> {
    let spec = table_spec()?;
    let build = |e: aws_sdk_dynamodb::error::BuildError| SchemaError::Build(e.to_string());
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&spec.key_schema)?));
    for a in &spec.attribute_definitions {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(build)?,
        );
    }
    for g in &spec.global_secondary_indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&g.index_name)
                .set_key_schema(Some(key_schema(&g.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(build)?,
        );
    }
    if let Some(s) = &spec.stream_specification {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(s.stream_view_type.as_str()))
                .build()
                .map_err(build)?,
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(e) => {
            return Err(SchemaError::Create(describe(&e)));
        }
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(&spec.time_to_live_specification.attribute_name)
                .enabled(spec.time_to_live_specification.enabled)
                .build()
                .map_err(build)?,
        )
        .send()
        .await
        .map_err(|e| SchemaError::Create(describe(&e)))?;
    Ok(())
}

/// The service's code and message when DynamoDB answered, the whole chain otherwise (no
/// connection, bad credentials...).
fn describe<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or("no message")
        ),
        None => aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_declares_the_keys_the_adapter_uses() {
        let spec = table_spec().unwrap();
        let names: Vec<_> = spec
            .key_schema
            .iter()
            .map(|k| k.attribute_name.as_str())
            .collect();
        assert_eq!(names, [super::super::items::PK, super::super::items::SK]);
        assert_eq!(
            spec.global_secondary_indexes[0].index_name,
            super::super::items::GSI1
        );
        assert_eq!(
            spec.time_to_live_specification.attribute_name,
            super::super::items::TTL
        );
        assert!(spec.time_to_live_specification.enabled);
        assert_eq!(
            spec.stream_specification.unwrap().stream_view_type,
            "NEW_IMAGE"
        );
    }
}
