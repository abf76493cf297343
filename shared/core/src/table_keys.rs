//! Every key pattern of the single table, in one place. Tenant data lives under `T#<tenant>#…`;
//! the item type is in the sort key; GSI1 orders lists by time, GSI2 holds status lists.
//! Credential lookups by digest are global (a bearer token does not name its tenant).

use crate::ports::{IndexKey, Key};

pub fn tenant(tenant: &str) -> Key {
    Key::new(format!("T#{tenant}"), "TENANT")
}

/// GSI1 entry listing every tenant, by id (= creation order).
pub fn tenant_list(tenant: &str) -> IndexKey {
    IndexKey::new("TENANTS", tenant)
}

pub const TENANT_LIST_PARTITION: &str = "TENANTS";

/// Lookup item from an API key digest to its key record.
pub fn api_key_by_digest(digest: &str) -> Key {
    Key::new(format!("APIKEY#{digest}"), "APIKEY")
}

/// A console session, by its token's digest (a cookie does not name its tenant).
pub fn session(digest: &str) -> Key {
    Key::new(format!("SESSION#{digest}"), "SESSION")
}

/// The key record, under its tenant.
pub fn api_key(tenant: &str, key_id: &str) -> Key {
    Key::new(format!("T#{tenant}"), format!("KEY#{key_id}"))
}

pub fn api_key_prefix() -> &'static str {
    "KEY#"
}

pub fn audit_partition(tenant: &str) -> String {
    format!("T#{tenant}#AUDIT")
}

pub fn audit_entry(tenant: &str, sort: &str) -> Key {
    Key::new(audit_partition(tenant), sort.to_string())
}

/// An ingested domain event: its own idempotency record, keyed by the sender's id.
pub fn domain_event(tenant: &str, event_id: &str) -> Key {
    Key::new(format!("T#{tenant}#DEVT#{event_id}"), "DEVT")
}

pub fn domain_event_list_partition(tenant: &str) -> String {
    format!("T#{tenant}#DEVTS")
}

/// Counters of webhook-integrity failures per 5-minute bucket.
pub fn integrity_bucket(tenant: &str, bucket_start: &str) -> Key {
    Key::new(integrity_partition(tenant), bucket_start.to_string())
}

/// Domain events stored but not yet published to the bus (written only when publishing failed).
pub fn unpublished_partition(tenant: &str) -> String {
    format!("T#{tenant}#UNPUBLISHED")
}

// ---- delivery ---------------------------------------------------------------------------------

/// A notification's partition: the notification itself (`NTF`) and one delivery record per
/// channel (`DLV#<channel>`), so one query reads the whole state of a delivery.
pub fn notification_partition(tenant: &str, notification_id: &str) -> String {
    format!("T#{tenant}#NTF#{notification_id}")
}

pub fn notification(tenant: &str, notification_id: &str) -> Key {
    Key::new(notification_partition(tenant, notification_id), "NTF")
}

pub const DELIVERY_PREFIX: &str = "DLV#";

pub fn delivery(tenant: &str, notification_id: &str, channel: &str) -> Key {
    Key::new(
        notification_partition(tenant, notification_id),
        format!("{DELIVERY_PREFIX}{channel}"),
    )
}

/// GSI1: every notification of a tenant, by time.
pub fn notification_list(tenant: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#NTFS"), sort)
}

/// GSI2: notifications by status, by time.
pub fn notification_status_list(tenant: &str, status: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#NTFS#{status}"), sort)
}

pub fn channels_partition(tenant: &str) -> String {
    format!("T#{tenant}#CHANNELS")
}

pub const CHANNEL_PREFIX: &str = "CH#";

pub fn channel(tenant: &str, channel_id: &str) -> Key {
    Key::new(
        channels_partition(tenant),
        format!("{CHANNEL_PREFIX}{channel_id}"),
    )
}

/// Claims a channel name within its tenant (names are what routes refer to).
pub fn channel_name(tenant: &str, name: &str) -> Key {
    Key::new(channels_partition(tenant), format!("NAME#{name}"))
}

pub fn routing(tenant: &str) -> Key {
    Key::new(format!("T#{tenant}"), "ROUTING")
}

pub fn redaction(tenant: &str) -> Key {
    Key::new(format!("T#{tenant}"), "REDACTION")
}

pub fn inbox_item(tenant: &str, item_id: &str) -> Key {
    Key::new(format!("T#{tenant}#INBOX#{item_id}"), "INBOX")
}

/// GSI1: the whole inbox, by time.
pub fn inbox_list(tenant: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#INBOX"), sort)
}

/// GSI2: the inbox by status, by time.
pub fn inbox_status_list(tenant: &str, status: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#INBOX#{status}"), sort)
}

/// Counters of open inbox items by severity (the badge).
pub fn inbox_counts(tenant: &str) -> Key {
    Key::new(format!("T#{tenant}"), "INBOX_COUNTS")
}

// ---- Stripe and revenue aggregates -------------------------------------------------------------

/// A Stripe event, keyed by Stripe's id: its own idempotency record, raw body included.
pub fn stripe_event(tenant: &str, event_id: &str) -> Key {
    Key::new(format!("T#{tenant}#STRIPE#{event_id}"), "STRIPE")
}

/// GSI1: a tenant's Stripe events by `created` time.
pub fn stripe_event_list(tenant: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#STRIPES"), sort)
}

pub fn revenue_partition(tenant: &str) -> String {
    format!("T#{tenant}#REVENUE")
}

pub fn revenue_day_partition(tenant: &str) -> String {
    format!("T#{tenant}#REVENUE_DAY")
}

/// The same counters per UTC day, for 30-day baselines read with one query.
pub fn revenue_day(tenant: &str, day: &str) -> Key {
    Key::new(revenue_day_partition(tenant), day.to_string())
}

pub fn integrity_partition(tenant: &str) -> String {
    format!("T#{tenant}#INTEGRITY")
}

/// Counters of one 5-minute bucket of Stripe signals, by event time.
pub fn revenue_bucket(tenant: &str, bucket_start: &str) -> Key {
    Key::new(revenue_partition(tenant), bucket_start.to_string())
}

/// GSI2: succeeded charges of one bucket ordered by amount, so the largest is one query away.
pub fn charges_by_amount(tenant: &str, bucket_start: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#CHARGES#{bucket_start}"), sort)
}

/// One rejected hook: time, reason, source address and size (kept for a while, like raw events).
pub fn integrity_record(tenant: &str, sort: &str) -> Key {
    Key::new(format!("T#{tenant}#INTEGRITY_LOG"), sort.to_string())
}

// ---- anomalies and rules -----------------------------------------------------------------------

pub fn anomaly(tenant: &str, anomaly_id: &str) -> Key {
    Key::new(format!("T#{tenant}#ANOMALY#{anomaly_id}"), "ANOMALY")
}

/// GSI1: anomalies by detection time.
pub fn anomaly_list(tenant: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#ANOMALIES"), sort)
}

/// GSI2: anomalies most severe first, newest first within a severity.
pub fn anomaly_by_severity(tenant: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#ANOMALIES#BYSEV"), sort)
}

/// A tenant's settings of one rule (absent: the rule's defaults).
pub fn rule(tenant: &str, rule_id: &str) -> Key {
    Key::new(format!("T#{tenant}#RULES"), rule_id.to_string())
}

pub fn rules_partition(tenant: &str) -> String {
    format!("T#{tenant}#RULES")
}

/// How far the rule runner has evaluated a tenant's buckets.
pub fn rule_progress(tenant: &str) -> Key {
    Key::new(format!("T#{tenant}"), "RULE_PROGRESS")
}

// ---- automation runs --------------------------------------------------------------------------

/// A run, keyed by the id its platform gave: its own idempotency record.
pub fn run(tenant: &str, run_id: &str) -> Key {
    Key::new(format!("T#{tenant}#RUN#{run_id}"), "RUN")
}

/// GSI1: a tenant's runs by run time.
pub fn run_list(tenant: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#RUNS"), sort)
}

/// GSI2: one scenario's runs by run time.
pub fn scenario_run_list(tenant: &str, scenario: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#SCN#{scenario}#RUNS"), sort)
}

pub fn scenarios_partition(tenant: &str) -> String {
    format!("T#{tenant}#SCENARIOS")
}

pub fn scenario(tenant: &str, scenario: &str) -> Key {
    Key::new(scenarios_partition(tenant), scenario.to_string())
}

/// Counters of one scenario's runs in one UTC hour (`2026-01-23T10`).
pub fn scenario_hour(tenant: &str, scenario: &str, hour: &str) -> Key {
    Key::new(format!("T#{tenant}#SCNSTAT#{scenario}"), hour.to_string())
}

pub fn run_settings(tenant: &str) -> Key {
    Key::new(format!("T#{tenant}"), "RUN_SETTINGS")
}

pub fn scan_schedule(tenant: &str) -> Key {
    Key::new(format!("T#{tenant}"), "SCAN_SCHEDULE")
}

/// GSI1: enabled scan schedules of every tenant, by next scan time (`{time}#{tenant}`).
pub fn scan_due(sort: &str) -> IndexKey {
    IndexKey::new(SCANS_DUE_PARTITION, sort)
}

pub const SCANS_DUE_PARTITION: &str = "SCANS_DUE";

/// A finished scan, by its scheduled time (`{time}#{id}`).
pub fn scan(tenant: &str, sort: &str) -> Key {
    Key::new(format!("T#{tenant}#SCANS"), sort.to_string())
}

// ---- workflows ----------------------------------------------------------------------------------

/// A client workflows act on, by the tenant's own id for it.
pub fn client(tenant: &str, id: &str) -> Key {
    Key::new(format!("T#{tenant}#CLIENT"), id.to_string())
}

/// A task, ticket or draft (`kind`), by id.
pub fn record(tenant: &str, kind: &str, id: &str) -> Key {
    Key::new(format!("T#{tenant}#REC#{kind}"), id.to_string())
}

/// GSI1: a tenant's records of one kind, by creation (`{millis}#{id}`).
pub fn record_list(tenant: &str, kind: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#RECS#{kind}"), sort)
}

/// GSI2: one client's records of one kind, by creation.
pub fn client_records(tenant: &str, kind: &str, client: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#CLIENT#{client}#{kind}"), sort)
}

/// A workflow's current definition.
pub fn workflow(tenant: &str, id: &str) -> Key {
    Key::new(format!("T#{tenant}#WF"), id.to_string())
}

/// One version of a workflow, kept for the runs that started on it.
pub fn workflow_version(tenant: &str, id: &str, version: u32) -> Key {
    Key::new(format!("T#{tenant}#WFV#{id}"), format!("{version:08}"))
}

/// A workflow run, by id.
pub fn workflow_run(tenant: &str, run_id: &str) -> Key {
    Key::new(format!("T#{tenant}#WFRUN"), run_id.to_string())
}

/// GSI1: one workflow's runs, by start (`{millis}#{run_id}`).
pub fn workflow_run_list(tenant: &str, workflow: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#WFRUNS#{workflow}"), sort)
}

/// GSI2: runs not yet finished in one status, by when they are due (`{time}#{run_id}`): a
/// delay's end, an approval's time-out, a running run's lease.
pub fn workflow_runs_due(tenant: &str, status: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#WFDUE#{status}"), sort)
}

/// How one workflow's runs that started on one day (`YYYY-MM-DD`, UTC) ended: counters.
pub fn workflow_day_tally(tenant: &str, workflow: &str, day: &str) -> Key {
    Key::new(format!("T#{tenant}#WFTALLY#{workflow}"), day.to_string())
}

/// An approval request of a run's approval step.
pub fn approval(tenant: &str, id: &str) -> Key {
    Key::new(format!("T#{tenant}#APPROVAL"), id.to_string())
}

/// GSI1: a tenant's approvals in one status, by request time.
pub fn approval_list(tenant: &str, status: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#APPROVALS#{status}"), sort)
}

/// The last run one workflow started for one subject (duplicate triggers are held back).
pub fn workflow_guard(tenant: &str, workflow: &str, subject: &str) -> Key {
    Key::new(
        format!("T#{tenant}#WFGUARD#{workflow}"),
        subject.to_string(),
    )
}

/// Runs one workflow started for one subject because of workflow effects, in one hour.
pub fn workflow_loop_count(tenant: &str, workflow: &str, subject: &str, hour: &str) -> Key {
    Key::new(
        format!("T#{tenant}#WFLOOP#{workflow}"),
        format!("{subject}#{hour}"),
    )
}

/// The tenant's token bucket of run starts.
pub fn workflow_rate(tenant: &str) -> Key {
    Key::new(format!("T#{tenant}"), "WF_RATE")
}

/// Emails an email channel sent on one UTC day (`YYYY-MM-DD`): its quota counter.
pub fn email_quota(tenant: &str, channel: &str, day: &str) -> Key {
    Key::new(format!("T#{tenant}#EMAILQ#{day}"), channel.to_string())
}

/// A tenant's bucket of hook requests.
pub fn ingest_rate(tenant: &str) -> Key {
    Key::new(format!("T#{tenant}"), "INGEST_RATE")
}

/// Clients for which a workflow's state triggers (KPI, inactivity) held at the last tick.
pub fn workflow_latch(tenant: &str, workflow: &str, client: &str) -> Key {
    Key::new(format!("T#{tenant}#WFLATCH#{workflow}"), client.to_string())
}

/// The last schedule occurrence a workflow's schedule trigger fired for.
pub fn workflow_schedule_mark(tenant: &str, workflow: &str) -> Key {
    Key::new(format!("T#{tenant}#WFSCHED"), workflow.to_string())
}

// ---- reports -----------------------------------------------------------------------------------

pub fn report(tenant: &str, report_id: &str) -> Key {
    Key::new(format!("T#{tenant}#REPORT#{report_id}"), "REPORT")
}

/// GSI1: a tenant's reports of one kind, by date.
pub fn report_list(tenant: &str, kind: &str, sort: &str) -> IndexKey {
    IndexKey::new(format!("T#{tenant}#REPORTS#{kind}"), sort)
}
