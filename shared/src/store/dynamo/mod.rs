//! The DynamoDB adapter: every store port over one table, one file per port with its item
//! mapping beside it ([`items`] holds the table's key layout).
//!
//! Correctness under many concurrent Lambda instances comes from DynamoDB itself:
//! creates are conditional puts, assistant updates are transactions conditional on the
//! version read (keeping the token index in step), thread sequence numbers are reserved
//! with an atomic `ADD`, and counters are conditional `ADD`s. Reads never trust that TTL
//! deleted anything: items whose `ttl` has passed are filtered out.

mod assistants;
mod counters;
mod errors;
pub mod items;
mod knowledge;
mod links;
mod memory;
mod responses;
pub mod schema;
mod sessions;
pub mod stream;
mod threads;
mod usage;

use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};

use crate::clock::Clock;
use crate::ports::StoreError;

use errors::{build_err, classify, conditional};
use items::{Item, TTL, n};

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: Arc<str>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<Arc<str>>, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The table's `UpdateItem`, `PutItem`, `GetItem`, `Query` and `DeleteItem` calls.
    pub(super) fn update_item(&self) -> UpdateItemFluentBuilder {
        self.client.update_item().table_name(&*self.table)
    }

    /// An `UpdateItem` of `key` with its update and condition expressions, where `#ttl`
    /// names the TTL attribute and `:now` is the time in epoch seconds (every conditional
    /// update here checks an item's expiry).
    pub(super) fn update(
        &self,
        key: Item,
        update: &str,
        condition: &str,
    ) -> UpdateItemFluentBuilder {
        self.update_item()
            .set_key(Some(key))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(self.clock.now_secs()))
    }

    /// The live item at `key`, read into a `T` by `from`.
    pub(super) async fn read<T>(
        &self,
        key: Item,
        consistent: bool,
        from: impl FnOnce(&Item) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.get_live(key, consistent)
            .await?
            .as_ref()
            .map(from)
            .transpose()
    }

    /// The items a query finds, page after page, stopping once `most` are read (a page
    /// ends at 1 MB, so one call is not enough for large items).
    pub(super) async fn query_all(
        &self,
        query: QueryFluentBuilder,
        most: Option<usize>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let left = most.map(|m| m.saturating_sub(items.len()));
            let page = query
                .clone()
                .set_limit(left.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| classify("Query", e))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() || most.is_some_and(|m| items.len() >= m) {
                return Ok(items);
            }
        }
    }

    pub(super) fn put_item(&self) -> PutItemFluentBuilder {
        self.client.put_item().table_name(&*self.table)
    }

    pub(super) fn get_item(&self) -> GetItemFluentBuilder {
        self.client.get_item().table_name(&*self.table)
    }

    pub(super) fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&*self.table)
    }

    pub(super) fn delete_item(&self) -> DeleteItemFluentBuilder {
        self.client.delete_item().table_name(&*self.table)
    }

    /// A transaction's put of `item`, unconditional or if `condition` holds.
    pub(super) fn put_action(
        &self,
        item: Item,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        Put::builder()
            .table_name(&*self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map(|p| TransactWriteItem::builder().put(p).build())
            .map_err(build_err)
    }

    /// A transaction's delete of the item at `key`.
    pub(super) fn delete_action(&self, key: Item) -> Result<TransactWriteItem, StoreError> {
        Delete::builder()
            .table_name(&*self.table)
            .set_key(Some(key))
            .build()
            .map(|d| TransactWriteItem::builder().delete(d).build())
            .map_err(build_err)
    }

    /// Runs `actions` as one transaction: all of them or none.
    pub(super) async fn transact_all(
        &self,
        actions: Vec<TransactWriteItem>,
    ) -> Result<(), SdkError<TransactWriteItemsError, HttpResponse>> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
            .map(drop)
    }

    pub(super) fn put(&self, item: Item, condition: &str) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&*self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .map_err(build_err)
    }

    /// The item at `key` unless it is past its `ttl` (TTL deletes late; a read never trusts
    /// it). `consistent` asks for a strongly consistent read.
    pub(super) async fn get_live(
        &self,
        key: Item,
        consistent: bool,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .get_item()
            .set_key(Some(key))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        let now = self.clock.now_secs();
        Ok(out.item.filter(|i| items::live(i, now)))
    }

    /// Puts `item` unless a live item (its `ttl` still ahead of `now`) holds its key: how an
    /// expired item that TTL has not deleted yet starts afresh. `Ok(false)` when a live one
    /// is there (a concurrent request got there first).
    pub(super) async fn put_unless_live(&self, item: Item, now: i64) -> Result<bool, StoreError> {
        let put = self
            .put_item()
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        Ok(conditional("PutItem", put)?.is_some())
    }
}
