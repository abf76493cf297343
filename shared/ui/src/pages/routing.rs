//! Settings › Routing and redaction: which channels each notification goes to, and what is
//! redacted from notifications before they are stored or sent. Read by everyone; changed by
//! admins, through the same services as `PUT /routing` and `PUT /redaction`.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use vigil_core::delivery::NotificationType;
use vigil_core::delivery::channels::INBOX;
use vigil_core::delivery::redaction::RedactionRules;
use vigil_core::delivery::routing::{Routing, RoutingRule, RoutingSource};
use vigil_core::severity::Severity;
use vigil_core::tenancy::Role;
use vigil_core::tenancy::sessions::Session;

use super::fields::{Field, Problems};
use super::settings::{may_change, sections};
use super::{Chrome, ErrorPage, actor, choices, render};
use crate::ConsoleState;
use crate::session::SignedIn;

#[derive(Template)]
#[template(path = "settings_routing.html")]
struct RoutingPage {
    chrome: Chrome,
    sections: Vec<(&'static str, &'static str, bool)>,
    can_change: bool,
    is_default: bool,
    description: String,
    rules: Vec<RuleRow>,
    severities: Vec<(&'static str, bool)>,
    /// Each notification type, and whether the new rule takes it.
    types: Vec<(&'static str, bool)>,
    /// Each channel a rule may name (`inbox` first), and whether the new rule names it.
    channels: Vec<(String, bool)>,
    routing_problem: Option<String>,
    /// The redaction switches: (name, label, on).
    switches: Vec<(&'static str, &'static str, bool)>,
    patterns: Vec<Field>,
    redaction_problems: Problems,
}

struct RuleRow {
    index: usize,
    min_severity: &'static str,
    types: String,
    channels: String,
}

/// The form's pairs, as a browser posts checkboxes: one pair per ticked box.
type Pairs = Vec<(String, String)>;

fn values<'a>(pairs: &'a Pairs, name: &'a str) -> impl Iterator<Item = &'a str> {
    pairs
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn first<'a>(pairs: &'a Pairs, name: &'a str) -> Option<&'a str> {
    values(pairs, name).next()
}

/// The routing rule an "add a rule" form describes; no type ticked means every type.
fn rule_from(pairs: &Pairs) -> Result<RoutingRule, String> {
    let severity = first(pairs, "min_severity").unwrap_or_default();
    let min_severity = Severity::ALL
        .into_iter()
        .find(|s| s.as_str() == severity)
        .ok_or_else(|| format!("{severity:?} is not a severity"))?;
    let types = values(pairs, "types")
        .map(|t| NotificationType::parse(t).ok_or_else(|| format!("{t:?} is not a type")))
        .collect::<Result<Vec<_>, _>>()?;
    let channels: Vec<String> = values(pairs, "channels").map(str::to_owned).collect();
    if channels.is_empty() {
        return Err("tick at least one channel".into());
    }
    Ok(RoutingRule {
        types,
        min_severity,
        channels,
    })
}

fn redaction_from(pairs: &Pairs) -> RedactionRules {
    let on = |name: &str| first(pairs, name).is_some();
    RedactionRules {
        email: on("email"),
        phone: on("phone"),
        card: on("card"),
        otp: on("otp"),
        secret: on("secret"),
        extra_patterns: first(pairs, "extra_patterns")
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

fn pattern_field(patterns: &[String]) -> Vec<Field> {
    vec![
        Field::lines(
            "extra_patterns",
            "Extra patterns",
            "Regular expressions, one a line; each match becomes [redacted].",
        )
        .with_value(patterns.join("\n")),
    ]
}

/// What a page shows besides the saved routing and redaction: a post that came back.
#[derive(Default)]
struct Posted {
    rule: Option<(Pairs, String)>,
    redaction: Option<(RedactionRules, Vec<Field>, Problems)>,
}

async fn routing_page(
    console: &ConsoleState,
    session: &Session,
    posted: Posted,
) -> Result<Response, ErrorPage> {
    let tenant = &session.tenant_id;
    let view = console.routing.view(tenant).await?;
    let names = console.channels.by_name(tenant).await?;
    let (rule_pairs, routing_problem) = match posted.rule {
        Some((pairs, problem)) => (pairs, Some(problem)),
        None => (vec![("channels".to_owned(), INBOX.to_owned())], None),
    };
    let ticked = |name: &str, value: &str| values(&rule_pairs, name).any(|v| v == value);
    let (redaction, patterns, redaction_problems) = match posted.redaction {
        Some(posted) => posted,
        None => {
            let saved = console.outbox.redaction(tenant).await?;
            let field = pattern_field(&saved.extra_patterns);
            (saved, field, Problems::default())
        }
    };
    let status = match (&routing_problem, redaction_problems.status) {
        (_, Some(status)) => status,
        (Some(_), None) => StatusCode::UNPROCESSABLE_ENTITY,
        (None, None) => StatusCode::OK,
    };
    let page = RoutingPage {
        chrome: Chrome::of(session, "settings"),
        sections: sections("/settings/routing"),
        can_change: session.role.at_least(Role::Admin),
        is_default: view.source == RoutingSource::Default,
        description: view.description,
        rules: view
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| RuleRow {
                index,
                min_severity: rule.min_severity.as_str(),
                types: if rule.types.is_empty() {
                    "any".to_owned()
                } else {
                    let types: Vec<_> = rule.types.iter().map(|t| t.as_str()).collect();
                    types.join(", ")
                },
                channels: rule.channels.join(", "),
            })
            .collect(),
        severities: choices(
            Severity::ALL.map(Severity::as_str),
            first(&rule_pairs, "min_severity").unwrap_or("SEV4"),
        ),
        types: NotificationType::ALL
            .map(|t| (t.as_str(), ticked("types", t.as_str())))
            .to_vec(),
        channels: std::iter::once(INBOX.to_owned())
            .chain(names.into_keys())
            .map(|name| {
                let on = ticked("channels", &name);
                (name, on)
            })
            .collect(),
        routing_problem,
        switches: vec![
            ("email", "Email addresses", redaction.email),
            ("phone", "Phone numbers", redaction.phone),
            ("card", "Card numbers", redaction.card),
            ("otp", "One-time codes", redaction.otp),
            ("secret", "Tokens and secrets", redaction.secret),
        ],
        patterns,
        redaction_problems,
    };
    Ok(render(&page, status))
}

pub async fn routing(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
) -> Result<Response, ErrorPage> {
    routing_page(&console, &signed_in.session, Posted::default()).await
}

/// Saves `routing` (checked against the tenant's channels, as the API does); the problem in
/// words when the domain refuses it.
async fn save_routing(
    console: &ConsoleState,
    session: &Session,
    routing: Routing,
) -> Result<Option<String>, ErrorPage> {
    let channels = console.channels.by_name(&session.tenant_id).await?;
    let saved = console
        .routing
        .put(&session.tenant_id, routing, &channels, &actor(session))
        .await;
    match saved {
        Ok(_) => Ok(None),
        Err(error) => Ok(Problems::place(error, &mut [])?.general),
    }
}

/// The rules in force that a change starts from: the tenant's own (none while the default
/// applies, which a first rule replaces).
async fn current_rules(
    console: &ConsoleState,
    tenant: &str,
) -> Result<Vec<RoutingRule>, ErrorPage> {
    Ok(console
        .routing
        .get(tenant)
        .await?
        .map(|r| r.rules)
        .unwrap_or_default())
}

pub async fn add_routing_rule(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Form(pairs): Form<Pairs>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    may_change(session, first(&pairs, "csrf"), Role::Admin)?;
    let problem = match rule_from(&pairs) {
        Err(problem) => Some(problem),
        Ok(rule) => {
            let mut rules = current_rules(&console, &session.tenant_id).await?;
            rules.push(rule);
            save_routing(&console, session, Routing { rules }).await?
        }
    };
    match problem {
        None => Ok(Redirect::to("/settings/routing").into_response()),
        Some(problem) => {
            let posted = Posted {
                rule: Some((pairs, problem)),
                redaction: None,
            };
            routing_page(&console, session, posted).await
        }
    }
}

pub async fn remove_routing_rule(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Form(pairs): Form<Pairs>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    may_change(session, first(&pairs, "csrf"), Role::Admin)?;
    let mut rules = current_rules(&console, &session.tenant_id).await?;
    let index = first(&pairs, "index")
        .and_then(|i| i.parse::<usize>().ok())
        .filter(|i| *i < rules.len())
        .ok_or_else(|| vigil_core::Error::NotFound("routing rule".into()))?;
    rules.remove(index);
    match save_routing(&console, session, Routing { rules }).await? {
        None => Ok(Redirect::to("/settings/routing").into_response()),
        Some(problem) => Err(vigil_core::Error::invalid("invalid_routing", problem).into()),
    }
}

pub async fn save_redaction(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Form(pairs): Form<Pairs>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    may_change(session, first(&pairs, "csrf"), Role::Admin)?;
    let rules = redaction_from(&pairs);
    let saved = console
        .outbox
        .set_redaction(&session.tenant_id, rules.clone(), &actor(session))
        .await;
    match saved {
        Ok(_) => Ok(Redirect::to("/settings/routing").into_response()),
        Err(error) => {
            let mut field = pattern_field(&rules.extra_patterns);
            let problems = Problems::place(error, &mut field)?;
            let posted = Posted {
                rule: None,
                redaction: Some((rules, field, problems)),
            };
            routing_page(&console, session, posted).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Pairs {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_rule_takes_each_ticked_box_and_every_type_when_none_is() {
        // GIVEN a form with two channels ticked and no type
        let form = pairs(&[
            ("min_severity", "SEV2"),
            ("channels", "inbox"),
            ("channels", "ops"),
        ]);
        // WHEN it becomes a rule THEN both channels are in it, for any type
        let rule = rule_from(&form).expect("a rule");
        assert_eq!(rule.min_severity, Severity::Sev2);
        assert_eq!(rule.channels, ["inbox", "ops"]);
        assert!(rule.types.is_empty());
        // AND a rule with no channel, or a type no one knows, is refused
        assert!(rule_from(&pairs(&[("min_severity", "SEV2")])).is_err());
        let unknown = pairs(&[
            ("min_severity", "SEV2"),
            ("channels", "inbox"),
            ("types", "x"),
        ]);
        assert!(rule_from(&unknown).is_err());
    }

    #[test]
    fn unticked_switches_are_off_and_patterns_are_one_a_line() {
        let form = pairs(&[
            ("email", "on"),
            ("extra_patterns", "ACME-\\d+\r\n\r\n  x+ "),
        ]);
        let rules = redaction_from(&form);
        assert!(rules.email && !rules.phone && !rules.secret);
        assert_eq!(rules.extra_patterns, ["ACME-\\d+", "x+"]);
    }
}
