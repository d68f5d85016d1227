//! Accounts: leads grouped by a profile attribute (account-based marketing
//! counts buying groups), with roll-ups of score, grade and stage.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::attr::{Attrs, compile_lists};
use crate::engine::Engine;
use crate::error::ConfigError;
use crate::grading::{Grade, GradingConfig, Profile};
use crate::lead::Lead;
use crate::lifecycle::StageKind;
use crate::types::{LeadId, Timestamp};

/// How members' scores roll up to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScoreRollup {
    /// The sum of the members' scores.
    #[default]
    Sum,
    /// The highest member score.
    Max,
}

/// How leads roll up into accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The profile attribute naming a lead's account (default `account`).
    #[serde(default = "default_attr")]
    pub attr: String,
    /// How scores roll up.
    #[serde(default)]
    pub score: ScoreRollup,
    /// The account's own grading profile, over the account's attributes;
    /// the engine's profile when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<GradingConfig>,
}

fn default_attr() -> String {
    "account".to_owned()
}

impl Default for AccountConfig {
    fn default() -> Self {
        Self {
            attr: default_attr(),
            score: ScoreRollup::Sum,
            profile: None,
        }
    }
}

/// One account at a point in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountRow {
    /// The account (the attribute's value).
    pub account: String,
    /// Its members, by id.
    pub members: Vec<LeadId>,
    /// The members' scores rolled up (each with its own decay), exact.
    pub score: Decimal,
    /// The account's grade: its profile over the account's attributes (for
    /// each attribute, the value of the member who set it last, among the
    /// members that have it at the time; ties by member id).
    pub grade: Option<Grade>,
    /// The highest path or won stage any member reached.
    pub furthest: Option<String>,
}

/// Rolls leads up into accounts.
#[derive(Debug, Clone)]
pub struct Accounts {
    engine: Engine,
    config: AccountConfig,
    profile: Option<Profile>,
}

impl Accounts {
    /// Account roll-ups for leads folded by `engine`.
    ///
    /// # Errors
    /// A [`ConfigError`] (path `accounts.profile…`) when the account
    /// profile does not compile.
    pub fn new(engine: &Engine, config: AccountConfig) -> Result<Self, ConfigError> {
        let profile = match &config.profile {
            None => None,
            Some(p) => {
                let lists = compile_lists(&engine.config().lists);
                let groups: Vec<String> = engine
                    .config()
                    .scoring
                    .groups
                    .iter()
                    .map(|g| g.name.clone())
                    .collect();
                Some(Profile::compile_at(p, &lists, &groups, "accounts.profile")?)
            }
        };
        Ok(Self {
            engine: engine.clone(),
            config,
            profile,
        })
    }

    /// Every account of the leads at `at`, by name. A lead belongs to the
    /// account its attribute names at `at`; leads without one are left out.
    pub fn at<'a>(
        &self,
        leads: impl IntoIterator<Item = &'a Lead>,
        at: Timestamp,
    ) -> Vec<AccountRow> {
        let lc = self.engine.lifecycle();
        let mut accounts: BTreeMap<String, Acc> = BTreeMap::new();
        for lead in leads {
            let lead = self.engine.view(lead);
            let lead: &Lead = &lead;
            // The member's attributes at `at`, with when each was set.
            let attrs = lead.attrs_until(at);
            let Some(account) = attrs
                .get(self.config.attr.as_str())
                .map(|(_, v)| v.to_string())
            else {
                continue;
            };
            let best = lead
                .stage()
                .history_until(at)
                .iter()
                .filter(|t| {
                    let k = lc.kind(t.to);
                    k.is_on_path() || k == StageKind::Won
                })
                .map(|t| (lc.rank(t.to), lc.name(t.to).to_owned()))
                .max();
            let acc = accounts.entry(account).or_insert_with(|| Acc {
                members: Vec::new(),
                scores: Vec::new(),
                values: Vec::new(),
                furthest: None,
            });
            acc.members.push(lead.id().clone());
            acc.scores.push(self.engine.score(lead, at));
            acc.values.extend(
                attrs
                    .into_iter()
                    .map(|(k, (t, v))| (k.to_owned(), t, lead.id().clone(), v.clone())),
            );
            if best > acc.furthest {
                acc.furthest = best;
            }
        }
        accounts
            .into_iter()
            .map(|(account, acc)| self.row(account, acc))
            .collect()
    }
    /// An account's row: its attributes (per attribute, the value of the
    /// member who set it last, ties to the larger member id, among the
    /// members that still have it), rolled-up score, grade and furthest
    /// stage.
    fn row(&self, account: String, mut acc: Acc) -> AccountRow {
        acc.values
            .sort_by(|a, b| (&a.0, a.1, &a.2).cmp(&(&b.0, b.1, &b.2)));
        let mut attrs = Attrs::new();
        for (k, _, _, v) in acc.values {
            attrs.insert(k.into(), v);
        }
        let score = match self.config.score {
            // Saturating: no bounded score gets near the limit.
            ScoreRollup::Sum => acc
                .scores
                .iter()
                .fold(Decimal::ZERO, |sum, s| sum.saturating_add(*s)),
            ScoreRollup::Max => acc.scores.iter().copied().max().unwrap_or_default(),
        };
        let grade = match &self.profile {
            Some(p) => p.grade(&attrs),
            None => self.engine.grade_of(&attrs),
        };
        acc.members.sort();
        AccountRow {
            account,
            members: acc.members,
            score,
            grade,
            furthest: acc.furthest.map(|(_, n)| n),
        }
    }
}

/// One account's members as they are gathered: ids, scores, attribute
/// changes and the best stage reached.
struct Acc {
    members: Vec<LeadId>,
    scores: Vec<Decimal>,
    /// Each member's current attributes: (key, set at, member, value).
    values: Vec<(String, Timestamp, LeadId, crate::attr::AttrValue)>,
    furthest: Option<(i32, String)>,
}
