//! Capped fixed-window counters: one item per counter key (the window is part of the key),
//! incremented with a conditional `ADD` that is exact under concurrency; an expired counter
//! is restarted, never trusted to have been deleted.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::DynamoStore;
use super::errors::classify;
use super::items::{self, TTL, n};
use crate::ports::{Admission, CounterStore, StoreError};

#[async_trait]
impl CounterStore for DynamoStore {
    #[tracing::instrument(skip_all)]
    async fn increment_below(
        &self,
        key: &str,
        limit: u64,
        expires_at: i64,
    ) -> Result<Admission, StoreError> {
        if limit == 0 {
            return Ok(Admission::Rejected);
        }
        let now = self.clock.now_secs();
        let result = self
            .update_item()
            .set_key(Some(items::counter_key(key)))
            .update_expression("SET #ttl = if_not_exists(#ttl, :exp) ADD #count :one")
            .condition_expression(
                "attribute_not_exists(#count) OR (#count < :limit AND #ttl > :now)",
            )
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(out) => {
                let value = out
                    .attributes()
                    .map(|a| items::get_n(a, "count"))
                    .transpose()?
                    .unwrap_or(1);
                return Ok(Admission::Admitted(u64::try_from(value).unwrap_or(0)));
            }
            Err(e) => e,
        };
        let Some(old) = err.as_service_error().and_then(|s| match s {
            aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => Some(c.item().cloned().unwrap_or_default()),
            _ => None,
        }) else {
            return Err(classify("UpdateItem", err));
        };
        if items::live(&old, now) {
            return Ok(Admission::Rejected);
        }
        // The counter outlived its window (TTL deletes late): restart it, unless another
        // request restarted it first, in which case that one's count decides.
        let mut fresh = items::counter_key(key);
        fresh.insert("count".into(), n(1));
        fresh.insert(TTL.into(), n(expires_at));
        if self.put_unless_live(fresh, now).await? {
            Ok(Admission::Admitted(1))
        } else {
            Box::pin(self.increment_below(key, limit, expires_at)).await
        }
    }

    #[tracing::instrument(skip_all)]
    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let result = self
            .update_item()
            .set_key(Some(items::counter_key(key)))
            .update_expression("ADD #count :minus")
            .condition_expression("#count > :zero AND #ttl > :now")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", n(self.clock.now_secs()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already zero or expired: nothing to take back.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("UpdateItem", e)),
        }
    }

    async fn counter_value(&self, key: &str) -> Result<u64, StoreError> {
        Ok(self
            .get_live(items::counter_key(key), true)
            .await?
            .and_then(|i| items::opt_n(&i, "count"))
            .map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    }
}
