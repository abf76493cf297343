//! Routing: which channels a notification goes to, by type and minimum severity.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::channels::{Channel, INBOX};
use super::notification::NotificationType;
use crate::json::to_json;
use crate::ports::{Item, ItemStore, PutCondition, WriteOp};
use crate::severity::Severity;
use crate::tenancy::audit::{self, Actor};
use crate::{Clock, Error, Result, table_keys};

const MAX_RULES: usize = 50;

/// One route: notifications of these types (any type when empty) at `min_severity` or worse go
/// to `channels` (channel names; `inbox` is the admin inbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    #[serde(default)]
    pub types: Vec<NotificationType>,
    pub min_severity: Severity,
    /// Channel names, or `inbox`; a name without a channel is 422.
    #[schema(min_items = 1)]
    pub channels: Vec<String>,
}

/// A tenant's routes. Every matching rule adds its channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    #[schema(max_items = 50)]
    pub rules: Vec<RoutingRule>,
}

/// The routing in force and whether the tenant set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoutingView {
    /// `default` until the tenant sets routes with `PUT /api/v1/routing`.
    pub source: RoutingSource,
    /// The tenant's rules (empty while the default applies).
    pub rules: Vec<RoutingRule>,
    /// What the routing does, in words.
    pub description: String,
}

const DEFAULT_DESCRIPTION: &str = "default routes: SEV0 → channel sev0, SEV1 → channel sev1 (each \
    falling back to channel default when it does not exist), SEV2–SEV4 → channel default; \
    everything → inbox";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoutingSource {
    Default,
    Tenant,
}

impl RoutingView {
    fn tenant(routing: Routing) -> Self {
        RoutingView {
            source: RoutingSource::Tenant,
            description: format!(
                "{} tenant rule(s); each matching rule adds its channels",
                routing.rules.len()
            ),
            rules: routing.rules,
        }
    }
}

impl Routing {
    fn validate(&self, channels: &BTreeMap<String, Channel>) -> Result<()> {
        if self.rules.len() > MAX_RULES {
            return Err(Error::invalid(
                "invalid_routing",
                format!("at most {MAX_RULES} rules"),
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.channels.is_empty() {
                return Err(Error::invalid(
                    "invalid_routing",
                    format!("rules[{i}].channels is empty"),
                ));
            }
            for name in &rule.channels {
                if name != INBOX && !channels.contains_key(name) {
                    return Err(Error::unprocessable(
                        "invalid_routing",
                        format!("rules[{i}] names the channel {name:?}, which does not exist"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Where one notification goes: channel names (and possibly `inbox`), each once, in order.
///
/// With the default routes, severities SEV2–SEV4 go to `default`, and SEV0/SEV1 go to `sev0`/
/// `sev1` or, when that channel does not exist, to `default`. `delivery.dead_lettered` always
/// goes to the inbox only, so a broken channel cannot feed on its own failures.
pub fn targets(
    routing: Option<&Routing>,
    channels: &BTreeMap<String, Channel>,
    kind: NotificationType,
    severity: Severity,
) -> Vec<String> {
    if kind == NotificationType::DeliveryDeadLettered {
        return vec![INBOX.to_owned()];
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut ordered = Vec::new();
    let mut add = |name: &str, ordered: &mut Vec<String>| {
        if names.insert(name.to_owned()) {
            ordered.push(name.to_owned());
        }
    };
    match routing {
        Some(routing) => {
            for rule in &routing.rules {
                let type_matches = rule.types.is_empty() || rule.types.contains(&kind);
                if type_matches && severity.at_least(rule.min_severity) {
                    for name in &rule.channels {
                        add(name, &mut ordered);
                    }
                }
            }
        }
        None => {
            add(INBOX, &mut ordered);
            let preferred = match severity {
                Severity::Sev0 => "sev0",
                Severity::Sev1 => "sev1",
                _ => "default",
            };
            if channels.contains_key(preferred) {
                add(preferred, &mut ordered);
            } else {
                add("default", &mut ordered);
            }
        }
    }
    // Routes may name channels deleted since; only existing, enabled ones (and the inbox) count.
    ordered.retain(|name| name == INBOX || channels.get(name).is_some_and(|c| c.enabled));
    ordered
}

pub struct RoutingService {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
}

impl RoutingService {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// The tenant's routes, or `None` when it has set none (the default applies).
    pub async fn get(&self, tenant: &str) -> Result<Option<Routing>> {
        match self.store.get(&table_keys::routing(tenant)).await? {
            Some(item) => Ok(Some(item.parse()?)),
            None => Ok(None),
        }
    }

    pub async fn view(&self, tenant: &str) -> Result<RoutingView> {
        Ok(match self.get(tenant).await? {
            Some(routing) => RoutingView::tenant(routing),
            None => RoutingView {
                source: RoutingSource::Default,
                rules: Vec::new(),
                description: DEFAULT_DESCRIPTION.into(),
            },
        })
    }

    pub async fn put(
        &self,
        tenant: &str,
        routing: Routing,
        channels: &BTreeMap<String, Channel>,
        actor: &Actor,
    ) -> Result<RoutingView> {
        routing.validate(channels)?;
        let now = self.clock.now();
        self.store
            .transact(vec![
                WriteOp::Put {
                    item: Item::new(table_keys::routing(tenant), to_json(&routing)?),
                    condition: PutCondition::None,
                },
                audit::record(tenant, actor, "routing.update", "routing", now),
            ])
            .await?;
        Ok(RoutingView::tenant(routing))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::super::channels::Destination;
    use super::*;

    fn channels(names: &[&str]) -> BTreeMap<String, Channel> {
        names
            .iter()
            .map(|name| {
                let channel = Channel {
                    id: format!("chn_{name}"),
                    name: (*name).to_owned(),
                    enabled: true,
                    destination: Destination::Slack {
                        url: "https://hooks.example.com/x".into(),
                    },
                    created_at: Utc::now(),
                    updated_at: Utc::now(),
                };
                ((*name).to_owned(), channel)
            })
            .collect()
    }

    #[test]
    fn default_routes_follow_severity_and_fall_back_to_default() {
        let all = channels(&["sev0", "sev1", "default"]);
        let only_default = channels(&["default"]);
        let kind = NotificationType::AnomalyOpened;
        let cases = [
            (&all, Severity::Sev0, vec!["inbox", "sev0"]),
            (&all, Severity::Sev1, vec!["inbox", "sev1"]),
            (&all, Severity::Sev2, vec!["inbox", "default"]),
            (&all, Severity::Sev4, vec!["inbox", "default"]),
            (&only_default, Severity::Sev0, vec!["inbox", "default"]),
            (&only_default, Severity::Sev1, vec!["inbox", "default"]),
        ];
        for (channels, severity, expected) in cases {
            assert_eq!(
                targets(None, channels, kind, severity),
                expected,
                "{severity}"
            );
        }
        // No channel at all: the inbox still gets everything.
        assert_eq!(
            targets(None, &BTreeMap::new(), kind, Severity::Sev0),
            vec!["inbox"]
        );
    }

    #[test]
    fn tenant_rules_match_type_and_minimum_severity() {
        let all = channels(&["pager", "finance"]);
        let routing = Routing {
            rules: vec![
                RoutingRule {
                    types: vec![],
                    min_severity: Severity::Sev1,
                    channels: vec!["pager".into()],
                },
                RoutingRule {
                    types: vec![NotificationType::SummaryReady],
                    min_severity: Severity::Sev4,
                    channels: vec!["finance".into(), "inbox".into()],
                },
            ],
        };
        assert_eq!(
            targets(
                Some(&routing),
                &all,
                NotificationType::AnomalyOpened,
                Severity::Sev0
            ),
            vec!["pager"]
        );
        assert!(
            targets(
                Some(&routing),
                &all,
                NotificationType::AnomalyOpened,
                Severity::Sev3
            )
            .is_empty()
        );
        assert_eq!(
            targets(
                Some(&routing),
                &all,
                NotificationType::SummaryReady,
                Severity::Sev4
            ),
            vec!["finance", "inbox"]
        );
    }

    #[test]
    fn dead_letter_notices_go_to_the_inbox_only() {
        let all = channels(&["default"]);
        assert_eq!(
            targets(
                None,
                &all,
                NotificationType::DeliveryDeadLettered,
                Severity::Sev2
            ),
            vec!["inbox"]
        );
    }

    #[test]
    fn routes_to_unknown_channels_are_refused() {
        let routing = Routing {
            rules: vec![RoutingRule {
                types: vec![],
                min_severity: Severity::Sev4,
                channels: vec!["nowhere".into()],
            }],
        };
        assert!(routing.validate(&channels(&["default"])).is_err());
    }
}
