//! `ItemStore` on one DynamoDB table: items as attributes ([`codec`]), conditions and updates as
//! expressions ([`expression`]), queries as Query requests ([`query_plan`]), DynamoDB's refusals
//! as the port's errors ([`errors`]). Requests are checked by the port's rules first
//! (`vigil_core::ports::store::validate_*`), as on the embedded store.

mod codec;
mod errors;
mod expression;
mod query_plan;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use vigil_core::ports::store::{
    validate_add, validate_delete, validate_key, validate_put, validate_query, validate_transaction,
};
use vigil_core::ports::{
    DeleteCondition, Item, ItemStore, Key, Page, PutCondition, Query, RequestCounter,
    RequestCounts, StoreError, WriteOp,
};

pub(crate) use codec::{EXPIRES_AT, GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK};
use codec::{counters_from, item_attributes, item_from_attributes, key_attributes};
use errors::{build_error, is_condition_failure, overflow, request_error, transaction_error};
use expression::{add_plan, condition_fields, delete_condition, put_condition, version_condition};
use query_plan::query_plan;

/// The item store of the AWS backend.
pub struct DynamoStore {
    client: Client,
    table: String,
    counter: RequestCounter,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            counter: RequestCounter::default(),
        }
    }
}

impl DynamoStore {
    fn transact_item(&self, op: &WriteOp) -> Result<TransactWriteItem, StoreError> {
        let item = match op {
            WriteOp::Put { item, condition } => {
                let version = validate_put(item, *condition)?;
                let (text, names, values) = condition_fields(put_condition(*condition));
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item_attributes(item, version)))
                    .set_condition_expression(text)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().put(put).build()
            }
            WriteOp::Delete { key, condition } => {
                let (text, names, values) = condition_fields(delete_condition(*condition));
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(key)))
                    .set_condition_expression(text)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().delete(delete).build()
            }
            WriteOp::Add { key, deltas } => {
                let plan = add_plan(deltas);
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(key)))
                    .update_expression(&plan.update.text)
                    .set_condition_expression(plan.condition.clone())
                    .set_expression_attribute_names(plan.update.names_or_none())
                    .set_expression_attribute_values(plan.update.values_or_none())
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().update(update).build()
            }
            WriteOp::Check { key, version } => {
                let expression = version_condition(*version);
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(key)))
                    .condition_expression(&expression.text)
                    .set_expression_attribute_names(expression.names_or_none())
                    .set_expression_attribute_values(expression.values_or_none())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().condition_check(check).build()
            }
        };
        Ok(item)
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn put(&self, item: Item, condition: PutCondition) -> Result<u64, StoreError> {
        let version = validate_put(&item, condition)?;
        let (text, names, values) = condition_fields(put_condition(condition));
        self.counter.write();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_attributes(&item, version)))
            .set_condition_expression(text)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(version),
            Err(err) if is_condition_failure(&err) => Err(match condition {
                PutCondition::Absent => StoreError::AlreadyExists,
                _ => StoreError::VersionConflict,
            }),
            Err(err) => Err(request_error(&err)),
        }
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        validate_key(key)?;
        self.counter.read();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| request_error(&e))?;
        output.item.map(item_from_attributes).transpose()
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        validate_query(&query)?;
        let Some(plan) = query_plan(&query)? else {
            return Ok(Page::default());
        };
        // One more than asked, so a next page is promised only when it has items.
        let wanted = query.page_size() + 1;
        let mut items = Vec::with_capacity(wanted.min(128));
        let mut start = plan.start.clone();
        loop {
            self.counter.read();
            let remaining = i32::try_from(wanted - items.len()).unwrap_or(i32::MAX);
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(plan.index_name.map(str::to_owned))
                .key_condition_expression(&plan.key_condition.text)
                .set_expression_attribute_names(plan.key_condition.names_or_none())
                .set_expression_attribute_values(plan.key_condition.values_or_none())
                .scan_index_forward(plan.forward)
                .consistent_read(plan.consistent)
                .limit(remaining)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| request_error(&e))?;
            for attrs in output.items.unwrap_or_default() {
                items.push(item_from_attributes(attrs)?);
            }
            start = output.last_evaluated_key;
            // A page cut short by DynamoDB's 1 MB limit is continued.
            if items.len() >= wanted || start.is_none() {
                break;
            }
        }
        Ok(Page::from_read_ahead(items, &query))
    }

    async fn delete(&self, key: &Key, condition: DeleteCondition) -> Result<(), StoreError> {
        validate_delete(key, condition)?;
        let (text, names, values) = condition_fields(delete_condition(condition));
        self.counter.write();
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .set_condition_expression(text)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(match condition {
                DeleteCondition::Exists => StoreError::NotFound,
                _ => StoreError::VersionConflict,
            }),
            Err(err) => Err(request_error(&err)),
        }
    }

    async fn add(
        &self,
        key: &Key,
        deltas: &BTreeMap<String, i64>,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        validate_add(key, deltas)?;
        let plan = add_plan(deltas);
        self.counter.write();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .update_expression(&plan.update.text)
            .set_condition_expression(plan.condition.clone())
            .set_expression_attribute_names(plan.update.names_or_none())
            .set_expression_attribute_values(plan.update.values_or_none())
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => counters_from(output.attributes.unwrap_or_default(), &key.pk, &key.sk),
            Err(err) if is_condition_failure(&err) => {
                let old = match err.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(e)) => e.item.clone(),
                    _ => None,
                };
                Err(overflow(deltas, old.as_ref()))
            }
            Err(err) => Err(request_error(&err)),
        }
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        if ops.is_empty() {
            // DynamoDB refuses an empty transaction; nothing to write is trivially all written.
            return Ok(());
        }
        let items = ops
            .iter()
            .map(|op| self.transact_item(op))
            .collect::<Result<Vec<_>, _>>()?;
        self.counter.write();
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| transaction_error(&ops, &err))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.counter.read();
        // A read of a key no item uses: what the functions may do (GetItem), cheap and harmless.
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(&Key::new("#ping", "#ping"))))
            .projection_expression("#pk")
            .expression_attribute_names("#pk", PK)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| request_error(&e))
    }

    fn request_counts(&self) -> RequestCounts {
        self.counter.snapshot()
    }

    fn backend_name(&self) -> &'static str {
        "dynamodb"
    }
}
