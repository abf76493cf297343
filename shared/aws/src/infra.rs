//! Creating (idempotently) and looking up a deployment's resources, as template.yaml declares
//! them. Used by `vigil infra bootstrap`, local runs on the emulator and the tests, which
//! bootstrap a fresh prefix each: independent steps run concurrently to keep that quick.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_eventbridge::types::{DeadLetterConfig, RuleState, Target};
use aws_sdk_sqs::types::QueueAttributeName;
use vigil_core::ports::ResourceNames;
use vigil_core::ports::{BusRoutes, QueueRole};

use crate::AwsResources;
use crate::error::AwsError;
use crate::store::{EXPIRES_AT, GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK};

/// How long a new table may take to become active (AWS: seconds; the emulator: at once).
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);
const TABLE_POLL: Duration = Duration::from_millis(500);
/// Retention of messages, as template.yaml: 4 days on the queues, 14 on their DLQs.
const QUEUE_RETENTION_SECONDS: u32 = 4 * 24 * 3600;
const DLQ_RETENTION_SECONDS: u32 = 14 * 24 * 3600;
/// Id of the bus rule's target.
const RULE_TARGET_ID: &str = "workflow-queue";

/// A queue and its dead-letter queue.
struct QueuePair {
    url: String,
    arn: String,
    dlq_url: String,
    dlq_arn: String,
}

/// Visibility timeouts as template.yaml: six times the consumer's timeout.
fn visibility_timeout_seconds(role: QueueRole) -> u32 {
    match role {
        QueueRole::Outbox => 180,
        QueueRole::Workflows => 360,
    }
}

/// Creates — idempotently — the table (pk/sk, GSI1 gsi1pk/gsi1sk, GSI2 gsi2pk/gsi2sk, both
/// projecting ALL; PAY_PER_REQUEST; TTL on `expires_at`), the four queues (each main queue with
/// a redrive policy to its `-dlq` after names.max_receives receives), the event bus with a rule
/// sending the events `routes` name to the workflow queue (and the queue policy letting
/// EventBridge send), and the schedule group. Returns the resources. Running it twice with the
/// same routes changes nothing.
pub async fn bootstrap(
    sdk: &SdkConfig,
    names: &ResourceNames,
    routes: &BusRoutes,
    scheduler_role_arn: &str,
) -> Result<AwsResources, AwsError> {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let scheduler = aws_sdk_scheduler::Client::new(sdk);
    let kms = aws_sdk_kms::Client::new(sdk);

    let workflows_and_bus = async {
        let (pair, rule_arn) = tokio::try_join!(
            create_queue_pair(&sqs, names, QueueRole::Workflows),
            create_bus_rule(&events, names, routes),
        )?;
        route_rule_to_queue(&events, &sqs, names, &rule_arn, &pair).await?;
        Ok(pair)
    };
    let (table, group, key_alias) = (
        names.table(),
        names.schedule_group(),
        names.secrets_key_alias(),
    );
    let ((), outbox, workflows, (), ()) = tokio::try_join!(
        create_table(&dynamodb, &table),
        create_queue_pair(&sqs, names, QueueRole::Outbox),
        workflows_and_bus,
        create_schedule_group(&scheduler, &group),
        create_secrets_key(&kms, &key_alias),
    )?;
    Ok(resources(names, scheduler_role_arn, outbox, workflows))
}

/// Looks up existing resources by name (GetQueueUrl, GetQueueAttributes) without creating any.
pub async fn resolve(
    sdk: &SdkConfig,
    names: &ResourceNames,
    scheduler_role_arn: &str,
) -> Result<AwsResources, AwsError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let pair = |role: QueueRole| {
        let sqs = &sqs;
        async move {
            let (name, dlq_name) = (names.queue(role), names.dead_letter_queue(role));
            let (url, dlq_url) =
                tokio::try_join!(queue_url(sqs, &name), queue_url(sqs, &dlq_name))?;
            let (arn, dlq_arn) = tokio::try_join!(queue_arn(sqs, &url), queue_arn(sqs, &dlq_url))?;
            Ok::<_, AwsError>(QueuePair {
                url,
                arn,
                dlq_url,
                dlq_arn,
            })
        }
    };
    let (outbox, workflows) =
        tokio::try_join!(pair(QueueRole::Outbox), pair(QueueRole::Workflows))?;
    Ok(resources(names, scheduler_role_arn, outbox, workflows))
}

fn resources(
    names: &ResourceNames,
    scheduler_role_arn: &str,
    outbox: QueuePair,
    workflows: QueuePair,
) -> AwsResources {
    AwsResources {
        names: names.clone(),
        table: names.table(),
        outbox_queue_url: outbox.url,
        outbox_dlq_url: outbox.dlq_url,
        workflow_queue_url: workflows.url,
        workflow_dlq_url: workflows.dlq_url,
        outbox_queue_arn: outbox.arn,
        workflow_queue_arn: workflows.arn,
        event_bus: names.event_bus(),
        schedule_group: names.schedule_group(),
        scheduler_role_arn: scheduler_role_arn.to_owned(),
        secrets_key: names.secrets_key_alias(),
    }
}

// ---- secrets key --------------------------------------------------------------------------------

/// The symmetric KMS key secrets are sealed under, found by its alias or created with it (yearly
/// rotation on, as template.yaml declares it).
async fn create_secrets_key(client: &aws_sdk_kms::Client, alias: &str) -> Result<(), AwsError> {
    match client.describe_key().key_id(alias).send().await {
        Ok(_) => return Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) => {}
        Err(err) => return Err(AwsError::request("DescribeKey", alias, &err)),
    }
    let created = client
        .create_key()
        .description("Vigil: seals stored secrets (channel URLs, signing secrets)")
        .send()
        .await
        .map_err(|e| AwsError::request("CreateKey", alias, &e))?;
    let key_id = created
        .key_metadata()
        .map(|m| m.key_id().to_owned())
        .ok_or_else(|| AwsError::unexpected("CreateKey", alias, "no key metadata"))?;
    client
        .enable_key_rotation()
        .key_id(&key_id)
        .send()
        .await
        .map_err(|e| AwsError::request("EnableKeyRotation", alias, &e))?;
    match client
        .create_alias()
        .alias_name(alias)
        .target_key_id(&key_id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // Another bootstrap made it meanwhile: its key is the one; this one stays unused.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(AwsError::request("CreateAlias", alias, &err)),
    }
}

// ---- table --------------------------------------------------------------------------------------

fn unexpected_build(action: &'static str, resource: &str, e: impl std::fmt::Display) -> AwsError {
    AwsError::unexpected(action, resource, e.to_string())
}

fn key_element(name: &str, key_type: KeyType, table: &str) -> Result<KeySchemaElement, AwsError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| unexpected_build("CreateTable", table, e))
}

fn string_attribute(name: &str, table: &str) -> Result<AttributeDefinition, AwsError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| unexpected_build("CreateTable", table, e))
}

fn global_index(
    index: &str,
    pk: &str,
    sk: &str,
    table: &str,
) -> Result<GlobalSecondaryIndex, AwsError> {
    GlobalSecondaryIndex::builder()
        .index_name(index)
        .key_schema(key_element(pk, KeyType::Hash, table)?)
        .key_schema(key_element(sk, KeyType::Range, table)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(|e| unexpected_build("CreateTable", table, e))
}

async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), AwsError> {
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element(PK, KeyType::Hash, table)?)
        .key_schema(key_element(SK, KeyType::Range, table)?)
        .global_secondary_indexes(global_index(GSI1, GSI1_PK, GSI1_SK, table)?)
        .global_secondary_indexes(global_index(GSI2, GSI2_PK, GSI2_SK, table)?);
    for name in [PK, SK, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK] {
        request = request.attribute_definitions(string_attribute(name, table)?);
    }
    let (created, active) = match request.send().await {
        Ok(output) => {
            let status = output.table_description.and_then(|d| d.table_status);
            (true, status == Some(TableStatus::Active))
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            (false, false)
        }
        Err(err) => return Err(AwsError::request("CreateTable", table, &err)),
    };
    if !active {
        wait_until_active(client, table).await?;
    }
    // A table created just now has no TTL yet; an existing one is looked at first.
    enable_ttl(client, table, !created).await
}

async fn wait_until_active(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), AwsError> {
    let deadline = tokio::time::Instant::now() + TABLE_ACTIVE_TIMEOUT;
    loop {
        let output = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| AwsError::request("DescribeTable", table, &e))?;
        let status = output.table.and_then(|t| t.table_status);
        if status == Some(TableStatus::Active) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AwsError::unexpected(
                "DescribeTable",
                table,
                format!(
                    "still {status:?} after {} s",
                    TABLE_ACTIVE_TIMEOUT.as_secs()
                ),
            ));
        }
        tokio::time::sleep(TABLE_POLL).await;
    }
}

async fn enable_ttl(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    look_first: bool,
) -> Result<(), AwsError> {
    if look_first && ttl_enabled(client, table).await? {
        return Ok(());
    }
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(EXPIRES_AT)
        .enabled(true)
        .build()
        .map_err(|e| unexpected_build("UpdateTimeToLive", table, e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::request("UpdateTimeToLive", table, &e))
}

async fn ttl_enabled(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<bool, AwsError> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| AwsError::request("DescribeTimeToLive", table, &e))?
        .time_to_live_description;
    Ok(current.is_some_and(|d| {
        d.attribute_name.as_deref() == Some(EXPIRES_AT)
            && matches!(
                d.time_to_live_status,
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            )
    }))
}

// ---- queues -------------------------------------------------------------------------------------

async fn create_queue_pair(
    client: &aws_sdk_sqs::Client,
    names: &ResourceNames,
    role: QueueRole,
) -> Result<QueuePair, AwsError> {
    let dlq_name = names.dead_letter_queue(role);
    let dlq_url = create_queue(
        client,
        &dlq_name,
        HashMap::from([(
            QueueAttributeName::MessageRetentionPeriod,
            DLQ_RETENTION_SECONDS.to_string(),
        )]),
    )
    .await?;
    let dlq_arn = queue_arn(client, &dlq_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": names.max_receives,
    });
    let url = create_queue(
        client,
        &names.queue(role),
        HashMap::from([
            (
                QueueAttributeName::VisibilityTimeout,
                visibility_timeout_seconds(role).to_string(),
            ),
            (
                QueueAttributeName::MessageRetentionPeriod,
                QUEUE_RETENTION_SECONDS.to_string(),
            ),
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
        ]),
    )
    .await?;
    let arn = queue_arn(client, &url).await?;
    Ok(QueuePair {
        url,
        arn,
        dlq_url,
        dlq_arn,
    })
}

/// CreateQueue answers the existing queue when its attributes are the same; when they differ
/// (say, a new `max_receives`) the queue is updated in place.
async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<String, AwsError> {
    let created = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.clone()))
        .send()
        .await;
    match created {
        Ok(output) => output
            .queue_url
            .ok_or_else(|| AwsError::unexpected("CreateQueue", name, "no queue URL in the answer")),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_queue_name_exists()) =>
        {
            let url = queue_url(client, name).await?;
            client
                .set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(attributes))
                .send()
                .await
                .map_err(|e| AwsError::request("SetQueueAttributes", name, &e))?;
            Ok(url)
        }
        Err(err) => Err(AwsError::request("CreateQueue", name, &err)),
    }
}

async fn queue_url(client: &aws_sdk_sqs::Client, name: &str) -> Result<String, AwsError> {
    client
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| AwsError::request("GetQueueUrl", name, &e))?
        .queue_url
        .ok_or_else(|| AwsError::unexpected("GetQueueUrl", name, "no queue URL in the answer"))
}

async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String, AwsError> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| AwsError::request("GetQueueAttributes", url, &e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| AwsError::unexpected("GetQueueAttributes", url, "no QueueArn in the answer"))
}

// ---- event bus ----------------------------------------------------------------------------------

/// The bus and its rule matching the routed events; returns the rule's ARN.
async fn create_bus_rule(
    events: &aws_sdk_eventbridge::Client,
    names: &ResourceNames,
    routes: &BusRoutes,
) -> Result<String, AwsError> {
    let bus = names.event_bus();
    match events.create_event_bus().name(&bus).send().await {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()) => {}
        Err(err) => return Err(AwsError::request("CreateEventBus", &bus, &err)),
    }
    let rule = names.bus_rule();
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .description("The events workflows act on go to the workflow queue.")
        .event_pattern(routes.event_pattern().to_string())
        .state(RuleState::Enabled)
        .send()
        .await
        .map_err(|e| AwsError::request("PutRule", &rule, &e))?
        .rule_arn
        .ok_or_else(|| AwsError::unexpected("PutRule", &rule, "no rule ARN in the answer"))
}

/// The rule's target, the workflow queue (undeliverable events to its DLQ), and the queue
/// policies that let the rule send.
async fn route_rule_to_queue(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    names: &ResourceNames,
    rule_arn: &str,
    workflows: &QueuePair,
) -> Result<(), AwsError> {
    let (bus, rule) = (names.event_bus(), names.bus_rule());
    let target = Target::builder()
        .id(RULE_TARGET_ID)
        .arn(&workflows.arn)
        .dead_letter_config(DeadLetterConfig::builder().arn(&workflows.dlq_arn).build())
        .build()
        .map_err(|e| unexpected_build("PutTargets", &rule, e))?;
    let put_target = async {
        let output = events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(target)
            .send()
            .await
            .map_err(|e| AwsError::request("PutTargets", &rule, &e))?;
        if output.failed_entry_count > 0 {
            let reason = output
                .failed_entries()
                .iter()
                .find_map(|e| e.error_message())
                .unwrap_or("no reason given");
            return Err(AwsError::unexpected("PutTargets", &rule, reason));
        }
        Ok(())
    };
    tokio::try_join!(
        allow_rule_to_send(sqs, &workflows.url, &workflows.arn, rule_arn),
        allow_rule_to_send(sqs, &workflows.dlq_url, &workflows.dlq_arn, rule_arn),
        put_target,
    )?;
    Ok(())
}

async fn allow_rule_to_send(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    queue_arn: &str,
    rule_arn: &str,
) -> Result<(), AwsError> {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowVigilEventsRule",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        }],
    });
    sqs.set_queue_attributes()
        .queue_url(queue_url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::request("SetQueueAttributes", queue_url, &e))
}

// ---- schedule group -----------------------------------------------------------------------------

async fn create_schedule_group(
    client: &aws_sdk_scheduler::Client,
    group: &str,
) -> Result<(), AwsError> {
    match client.create_schedule_group().name(group).send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_conflict_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(AwsError::request("CreateScheduleGroup", group, &err)),
    }
}
