//! `template.yaml` against `vigil_runtime::deployment`: the template declares exactly the cron flows,
//! functions and resource names the code knows, so `vigil serve` and AWS run the same deployment.

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json, json};
use serde_norway::Value as Yaml;
use vigil_core::delivery::dispatcher::{
    DELIVERY_CLAIM, DELIVERY_DEADLINE, DISPATCHER_TIMEOUT_SECONDS,
};
use vigil_core::ports::{DEFAULT_MAX_RECEIVES, QueueRole, ResourceNames};
use vigil_runtime::deployment::{CRON_FLOWS, FlowInvocation, FunctionName};

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The template as JSON, with CloudFormation's short tags in their long form:
/// `!Ref X` → `{"Ref": "X"}`, `!GetAtt A.B` → `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` → `{"Fn::Sub": s}`.
fn template() -> Json {
    let text = std::fs::read_to_string(format!("{WORKSPACE}/template.yaml"))
        .expect("template.yaml is readable");
    let yaml: Yaml = serde_norway::from_str(&text).expect("template.yaml is YAML");
    to_json(yaml)
}

fn to_json(value: Yaml) -> Json {
    match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(b),
        Yaml::Number(n) => serde_json::to_value(&n).expect("a YAML number is a JSON number"),
        Yaml::String(s) => Json::String(s),
        Yaml::Sequence(items) => Json::Array(items.into_iter().map(to_json).collect()),
        Yaml::Mapping(mapping) => Json::Object(
            mapping
                .into_iter()
                .map(|(k, v)| {
                    (
                        k.as_str().expect("template keys are strings").to_string(),
                        to_json(v),
                    )
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(tagged.value);
            let (key, inner) = match name {
                "Ref" | "Condition" => (name.to_string(), inner),
                "GetAtt" => {
                    let inner = match inner {
                        Json::String(path) => {
                            let (resource, attribute) =
                                path.split_once('.').expect("!GetAtt Resource.Attribute");
                            json!([resource, attribute])
                        }
                        other => other,
                    };
                    ("Fn::GetAtt".to_string(), inner)
                }
                other => (format!("Fn::{other}"), inner),
            };
            json!({ key: inner })
        }
    }
}

fn resources(template: &Json) -> &Map<String, Json> {
    template["Resources"]
        .as_object()
        .expect("Resources is a mapping")
}

fn ids_of_type(template: &Json, resource_type: &str) -> BTreeSet<String> {
    resources(template)
        .iter()
        .filter(|(_, resource)| resource["Type"] == resource_type)
        .map(|(id, _)| id.clone())
        .collect()
}

fn properties<'a>(template: &'a Json, id: &str) -> &'a Json {
    let resource = resources(template)
        .get(id)
        .unwrap_or_else(|| panic!("resource {id} is missing"));
    &resource["Properties"]
}

/// A `!Sub "${Prefix}-…"` name as it is with the prefix `prefix`.
fn name_with_prefix(value: &Json, prefix: &str) -> String {
    let pattern = value["Fn::Sub"]
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a !Sub string"));
    pattern.replace("${Prefix}", prefix)
}

#[test]
fn the_schedules_are_exactly_the_cron_flows() {
    // GIVEN the template
    let template = template();

    // WHEN its EventBridge Scheduler schedules are listed
    let declared = ids_of_type(&template, "AWS::Scheduler::Schedule");

    // THEN they are the cron flows, by logical id, no more and no fewer
    let expected: BTreeSet<String> = CRON_FLOWS
        .iter()
        .map(|f| f.logical_id.to_string())
        .collect();
    assert_eq!(declared, expected);
}

#[test]
fn each_schedule_sends_its_flow_to_its_function_on_its_cron() {
    // GIVEN the template
    let template = template();

    for flow in CRON_FLOWS {
        // WHEN the schedule of a cron flow is read
        let schedule = properties(&template, flow.logical_id);

        // THEN it fires on the flow's cron in UTC, exactly on time, in the deployment's group
        assert_eq!(
            schedule["ScheduleExpression"],
            flow.schedule_expression().as_str(),
            "{}",
            flow.logical_id
        );
        assert_eq!(
            schedule["ScheduleExpressionTimezone"], "UTC",
            "{}",
            flow.logical_id
        );
        assert_eq!(
            schedule["FlexibleTimeWindow"],
            json!({"Mode": "OFF"}),
            "{}",
            flow.logical_id
        );
        assert_eq!(
            schedule["GroupName"],
            json!({"Ref": "ScheduleGroup"}),
            "{}",
            flow.logical_id
        );

        // AND it invokes the flow's function with the flow's input
        let target = &schedule["Target"];
        assert_eq!(
            target["Arn"],
            json!({"Fn::GetAtt": [flow.function.logical_id(), "Arn"]}),
            "{}",
            flow.logical_id
        );
        let input = target["Input"].as_str().expect("Input is a JSON string");
        let sent: Json = serde_json::from_str(input).expect("Input is JSON");
        let expected: Json = serde_json::from_str(&flow.input()).expect("the flow input is JSON");
        assert_eq!(sent, expected, "{}", flow.logical_id);
        let invocation: FlowInvocation =
            serde_json::from_str(input).expect("Input is a flow invocation");
        assert_eq!(invocation.flow, flow.flow);
    }
}

#[test]
fn the_cron_role_may_invoke_every_scheduled_function() {
    // GIVEN the template and the functions the cron flows run
    let template = template();
    let functions: BTreeSet<&str> = CRON_FLOWS.iter().map(|f| f.function.logical_id()).collect();

    // WHEN the role the cron schedules assume is read
    let role_ids: BTreeSet<&str> = CRON_FLOWS
        .iter()
        .map(|f| {
            let role = &properties(&template, f.logical_id)["Target"]["RoleArn"]["Fn::GetAtt"][0];
            role.as_str().expect("RoleArn is !GetAtt <role>.Arn")
        })
        .collect();
    assert_eq!(role_ids.len(), 1, "every cron schedule assumes one role");
    let role_id = role_ids.first().expect("one role");
    let statements = &properties(&template, role_id)["Policies"][0]["PolicyDocument"]["Statement"];

    // THEN it may invoke exactly those functions, and nothing else
    let statements = statements.as_array().expect("statements");
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Action"], "lambda:InvokeFunction");
    let allowed: BTreeSet<String> = statements[0]["Resource"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|arn| {
            arn["Fn::GetAtt"][0]
                .as_str()
                .expect("function GetAtt")
                .to_string()
        })
        .collect();
    assert_eq!(allowed, functions.iter().map(|f| f.to_string()).collect());
}

#[test]
fn every_function_is_built_from_its_own_binary() {
    // GIVEN the template
    let template = template();

    // WHEN its serverless functions are listed
    let declared = ids_of_type(&template, "AWS::Serverless::Function");

    // THEN there is one per FunctionName
    let expected: BTreeSet<String> = FunctionName::ALL
        .iter()
        .map(|f| f.logical_id().to_string())
        .collect();
    assert_eq!(declared, expected);

    for function in FunctionName::ALL {
        // AND each is built by cargo-lambda from the workspace root, as its own binary
        let resource = &resources(&template)[function.logical_id()];
        assert_eq!(
            resource["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{function:?}"
        );
        assert_eq!(
            resource["Metadata"]["BuildProperties"]["Binary"],
            function.binary(),
            "{function:?}"
        );
        assert_eq!(resource["Properties"]["CodeUri"], ".", "{function:?}");

        // AND that binary is declared in the function's own folder
        let manifest = std::fs::read_to_string(format!(
            "{WORKSPACE}/functions/{}/Cargo.toml",
            function.binary()
        ))
        .unwrap_or_else(|e| panic!("functions/{}/Cargo.toml: {e}", function.binary()));
        assert!(
            manifest.contains("[[bin]]")
                && manifest.contains(&format!("name = \"{}\"", function.binary())),
            "functions/{0}/Cargo.toml declares no binary {0}",
            function.binary()
        );
    }
}

#[test]
fn resource_names_are_those_of_the_default_prefix() {
    // GIVEN the template and the names the code derives from the default prefix
    let template = template();
    let names = ResourceNames::default();
    assert_eq!(
        template["Parameters"]["Prefix"]["Default"],
        names.prefix.as_str()
    );
    let name = |id: &str, property: &str| {
        name_with_prefix(&properties(&template, id)[property], &names.prefix)
    };

    // WHEN the named resources are read
    // THEN each carries the name the adapters and `vigil infra bootstrap` use
    assert_eq!(name("Table", "TableName"), names.table());
    assert_eq!(
        name("OutboxQueue", "QueueName"),
        names.queue(QueueRole::Outbox)
    );
    assert_eq!(
        name("OutboxDeadLetterQueue", "QueueName"),
        names.dead_letter_queue(QueueRole::Outbox)
    );
    assert_eq!(
        name("WorkflowQueue", "QueueName"),
        names.queue(QueueRole::Workflows)
    );
    assert_eq!(
        name("WorkflowDeadLetterQueue", "QueueName"),
        names.dead_letter_queue(QueueRole::Workflows)
    );
    assert_eq!(name("EventBus", "Name"), names.event_bus());
    assert_eq!(name("EventsToWorkflowsRule", "Name"), names.bus_rule());
    assert_eq!(name("ScheduleGroup", "Name"), names.schedule_group());
}

#[test]
fn the_bus_rule_routes_what_the_code_routes() {
    // GIVEN the template
    let template = template();

    // WHEN its bus rule's event pattern is read
    let pattern = &properties(&template, "EventsToWorkflowsRule")["EventPattern"];

    // THEN it is the pattern `vigil infra bootstrap` puts and the embedded bus applies
    assert_eq!(pattern, &vigil_runtime::bus_routes().event_pattern());
}

#[test]
fn queues_dead_letter_after_the_default_receives() {
    // GIVEN the template
    let template = template();

    for (queue, dead_letter_queue) in [
        ("OutboxQueue", "OutboxDeadLetterQueue"),
        ("WorkflowQueue", "WorkflowDeadLetterQueue"),
    ] {
        // WHEN a queue's redrive policy is read
        let redrive = &properties(&template, queue)["RedrivePolicy"];

        // THEN it moves a message to its own dead-letter queue after DEFAULT_MAX_RECEIVES receives
        assert_eq!(redrive["maxReceiveCount"], DEFAULT_MAX_RECEIVES, "{queue}");
        assert_eq!(
            redrive["deadLetterTargetArn"],
            json!({"Fn::GetAtt": [dead_letter_queue, "Arn"]}),
            "{queue}"
        );
    }
}

#[test]
fn the_delivery_deadline_ends_before_the_claim_and_the_dispatcher_timeout() {
    // GIVEN the template's dispatcher and the queue it consumes
    let template = template();
    let timeout = properties(&template, FunctionName::Dispatcher.logical_id())["Timeout"]
        .as_u64()
        .expect("the dispatcher has a Timeout of its own");
    let visibility = properties(&template, "OutboxQueue")["VisibilityTimeout"]
        .as_u64()
        .expect("VisibilityTimeout");

    // THEN the timeout is the one delivery's bounds derive from
    assert_eq!(timeout, DISPATCHER_TIMEOUT_SECONDS);
    // AND the sends end before the claim on their records and before the function is stopped
    let deadline = DELIVERY_DEADLINE.as_secs();
    assert!(
        DELIVERY_DEADLINE < DELIVERY_CLAIM,
        "deadline {deadline} s ≥ claim"
    );
    assert!(
        deadline < timeout,
        "deadline {deadline} s ≥ timeout {timeout} s"
    );
    // AND a message stays hidden for as long as the function may run
    assert!(
        timeout <= visibility,
        "timeout {timeout} s > visibility {visibility} s"
    );
}

#[test]
fn queue_consumers_report_partial_failures_and_never_outlast_the_visibility_timeout() {
    // GIVEN the template and its default function timeout
    let template = template();
    let default_timeout = template["Globals"]["Function"]["Timeout"]
        .as_u64()
        .expect("a global Timeout");
    let mut consumers = 0;

    for function in FunctionName::ALL {
        let function_properties = properties(&template, function.logical_id());
        let timeout = function_properties["Timeout"]
            .as_u64()
            .unwrap_or(default_timeout);
        let Some(events) = function_properties["Events"].as_object() else {
            continue;
        };
        for event in events.values().filter(|event| event["Type"] == "SQS") {
            consumers += 1;
            // WHEN an SQS event source is read
            let source = &event["Properties"];
            let queue = source["Queue"]["Fn::GetAtt"][0]
                .as_str()
                .expect("Queue is !GetAtt <queue>.Arn");

            // THEN it reports partial batch failures, ten messages at a time
            assert_eq!(
                source["FunctionResponseTypes"],
                json!(["ReportBatchItemFailures"]),
                "{function:?}"
            );
            assert_eq!(source["BatchSize"], 10, "{function:?}");

            // AND its queue hides a message for at least six of the consumer's timeouts
            let visibility = properties(&template, queue)["VisibilityTimeout"]
                .as_u64()
                .expect("VisibilityTimeout");
            assert!(
                visibility >= 6 * timeout,
                "{queue}: {visibility} s < 6 × {timeout} s of {function:?}"
            );
        }
    }
    assert_eq!(
        consumers, 2,
        "the dispatcher and the workflow executor consume queues"
    );
}

#[test]
fn every_function_has_capacity_of_its_own_and_consumers_are_bounded() {
    // GIVEN the template
    let template = template();
    for function in FunctionName::ALL {
        let function_properties = properties(&template, function.logical_id());

        // THEN each function reserves its concurrency (one busy function cannot starve the rest)
        let reserved = &function_properties["ReservedConcurrentExecutions"]["Ref"];
        let reserved = reserved
            .as_str()
            .unwrap_or_else(|| panic!("{function:?} reserves concurrency from a parameter"));
        assert!(
            template["Parameters"][reserved].is_object(),
            "{function:?}: {reserved}"
        );

        // AND each SQS event source scales to a bounded number of batches
        let events = function_properties["Events"].as_object();
        for event in events
            .into_iter()
            .flat_map(|events| events.values())
            .filter(|event| event["Type"] == "SQS")
        {
            assert_eq!(
                event["Properties"]["ScalingConfig"]["MaximumConcurrency"],
                json!({"Ref": "QueueConsumerMaximumConcurrency"}),
                "{function:?}"
            );
        }
    }
}

#[test]
fn email_is_sent_only_as_the_configured_sender() {
    // GIVEN every IAM statement of every function
    let template = template();
    let mut grants = 0;
    for function in FunctionName::ALL {
        let policies = properties(&template, function.logical_id())["Policies"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for statement in policies
            .iter()
            .filter_map(|policy| policy["Statement"].as_array())
            .flatten()
            .filter(|statement| statement["Action"] == "ses:SendEmail")
        {
            grants += 1;
            // THEN SES sends only from the configured sender address
            assert_eq!(
                statement["Condition"]["StringEquals"]["ses:FromAddress"],
                json!({"Ref": "EmailFrom"}),
                "{function:?}"
            );
        }
    }
    assert_eq!(
        grants, 3,
        "the API and the console (channel tests) and the dispatcher send email"
    );
}

/// Every `kms:` action a function's policies allow, with the resource each is allowed on.
fn kms_grants(policies: &Json) -> Vec<(String, Json)> {
    fn walk(value: &Json, grants: &mut Vec<(String, Json)>) {
        match value {
            Json::Object(object) => {
                if let Some(actions) = object.get("Action") {
                    let actions = match actions {
                        Json::Array(items) => items.clone(),
                        single => vec![single.clone()],
                    };
                    for action in actions.iter().filter_map(Json::as_str) {
                        if action.starts_with("kms:") {
                            grants.push((action.to_string(), object["Resource"].clone()));
                        }
                    }
                }
                object.values().for_each(|v| walk(v, grants));
            }
            Json::Array(items) => items.iter().for_each(|v| walk(v, grants)),
            _ => {}
        }
    }
    let mut grants = Vec::new();
    walk(policies, &mut grants);
    grants
}

#[test]
fn only_functions_that_store_secrets_may_seal_and_only_those_that_use_them_may_open() {
    // GIVEN the template
    let template = template();
    let key_arn = json!({"Fn::GetAtt": ["SecretsKey", "Arn"]});

    // WHEN the secrets key and its alias are read
    let key = properties(&template, "SecretsKey");
    let alias = properties(&template, "SecretsKeyAlias");

    // THEN the key is a rotated symmetric key with a policy, found by the alias the code uses,
    // and every function is told which it is
    assert_eq!(resources(&template)["SecretsKey"]["Type"], "AWS::KMS::Key");
    assert_eq!(key["EnableKeyRotation"], true);
    assert_eq!(key["KeySpec"], "SYMMETRIC_DEFAULT");
    assert!(key["KeyPolicy"]["Statement"].is_array());
    assert_eq!(
        name_with_prefix(&alias["AliasName"], "vigil"),
        ResourceNames::default().secrets_key_alias()
    );
    assert_eq!(alias["TargetKeyId"], json!({"Ref": "SecretsKey"}));
    assert_eq!(
        template["Globals"]["Function"]["Environment"]["Variables"]["VIGIL_KMS_KEY_ID"],
        key_arn
    );

    for function in FunctionName::ALL {
        // WHEN a function's KMS grants are listed
        let policies = &properties(&template, function.logical_id())["Policies"];
        let grants = kms_grants(policies);

        // THEN it may seal only if it writes secrets, open only if it reads them, each on the
        // secrets key alone
        let expected: &[&str] = match function {
            FunctionName::Api | FunctionName::Workflows | FunctionName::Console => {
                &["kms:Decrypt", "kms:GenerateDataKey"]
            }
            FunctionName::Ingest | FunctionName::Dispatcher => &["kms:Decrypt"],
            FunctionName::Rules | FunctionName::Summary | FunctionName::Approvals => &[],
        };
        let mut actions: Vec<&str> = grants.iter().map(|(a, _)| a.as_str()).collect();
        actions.sort_unstable();
        assert_eq!(actions, expected, "{function:?}");
        for (action, resource) in &grants {
            assert_eq!(resource, &key_arn, "{function:?} {action}");
        }
    }
}
