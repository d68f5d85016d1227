//! Training sets from the leads a host folds: features from a lead's
//! profile and activity as of a time, labels from its lifecycle.

use serde::{Deserialize, Serialize};

use super::PredictError;
use super::table::{FeatureKind, Table, TableBuilder};
use crate::attr::{AttrValue, Attrs};
use crate::event::EventBody;
use crate::lead::Lead;
use crate::lifecycle::{Lifecycle, StageId, StageKind};
use crate::types::{LeadId, Span, Timestamp};

/// Which of a lead's data become features.
///
/// ```
/// use leadflow::predict::LeadFeatures;
/// let features: LeadFeatures = serde_json::from_str(
///     r#"{"attributes": ["industry", "employees"], "activity_counts": ["page_view", "demo_request"]}"#,
/// ).unwrap();
/// assert_eq!(features.names(), ["industry", "employees", "activities.page_view", "activities.demo_request"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LeadFeatures {
    /// Profile attributes, by name: their values as of the feature time
    /// (kinds inferred from the training values, as [`TableBuilder`]
    /// does).
    #[serde(default)]
    pub attributes: Vec<String>,
    /// Activity kinds whose counts up to the feature time become numeric
    /// features named `activities.<kind>`.
    #[serde(default)]
    pub activity_counts: Vec<String>,
}

impl LeadFeatures {
    /// Features from these attributes and activity kinds.
    pub fn new<S: Into<String>, K: Into<String>>(
        attributes: impl IntoIterator<Item = S>,
        activity_counts: impl IntoIterator<Item = K>,
    ) -> Self {
        Self {
            attributes: attributes.into_iter().map(Into::into).collect(),
            activity_counts: activity_counts.into_iter().map(Into::into).collect(),
        }
    }

    /// The feature names, attributes first, then `activities.<kind>`.
    pub fn names(&self) -> Vec<String> {
        self.attributes
            .iter()
            .cloned()
            .chain(
                self.activity_counts
                    .iter()
                    .map(|k| format!("activities.{k}")),
            )
            .collect()
    }

    /// The lead's features as of `at`: from the events of its log at or
    /// before `at` that the fold accepted (ignored events never count). An
    /// attribute never set, or unset, is absent (missing).
    pub fn record(&self, lead: &Lead, at: Timestamp) -> Attrs {
        self.record_where(lead, |e| e.at <= at)
    }

    fn record_where(&self, lead: &Lead, take: impl Fn(&crate::Event) -> bool) -> Attrs {
        let mut profile = Attrs::new();
        let mut counts = vec![0u32; self.activity_counts.len()];
        // Looked up once per event: a set, not a scan of the ignored list.
        let ignored: crate::hash::IdSet<&crate::EventId> =
            lead.ignored().iter().map(|x| &x.event).collect();
        for e in lead.events().iter().take_while(|e| take(e)) {
            if ignored.contains(&e.id) {
                continue;
            }
            match &e.body {
                EventBody::Attributes { set, unset } => {
                    for (k, v) in set.iter() {
                        if self.attributes.iter().any(|a| a == k) {
                            profile.insert(k.clone(), v.clone());
                        }
                    }
                    for k in unset {
                        profile.remove(k);
                    }
                }
                EventBody::Activity { kind, .. } => {
                    if let Some(i) = self.activity_counts.iter().position(|k| k == kind)
                        && let Some(c) = counts.get_mut(i)
                    {
                        *c = c.saturating_add(1);
                    }
                }
                _ => {}
            }
        }
        self.with_counts(profile, &counts)
    }

    /// A record of profile attributes with the activity counts added as
    /// `activities.<kind>`, in the order of `activity_counts`. The fold's
    /// qualification clause and the queries build their records here.
    pub(crate) fn with_counts(&self, mut record: Attrs, counts: &[u32]) -> Attrs {
        for (kind, n) in self.activity_counts.iter().zip(counts) {
            record.insert(
                format!("activities.{kind}").into(),
                AttrValue::Number(f64::from(*n)),
            );
        }
        record
    }
}

/// What a model learns to predict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Target {
    /// Won against lost or disqualified (Odoo's probability to win): the
    /// leads whose stage at `as_of` is terminal, labelled `true` when won,
    /// with features from the events strictly earlier than the move that
    /// closed them (not even events at the same time count), so the
    /// closing never leaks into the features. Open leads are left out.
    WonOrLost,
    /// Reaching a stage (entering it, or passing it on the path) within a
    /// horizon of creation: the leads created at least `within` before
    /// `as_of` (so the whole horizon is observed), with features as of
    /// `observe` after creation, labelled `true` when they reached `stage`
    /// by creation + `within`. Leads that had already reached it at the
    /// feature time are left out: there is nothing left to predict.
    /// `observe` must not be longer than `within`.
    Reached {
        /// The stage, by name.
        stage: String,
        /// The horizon after creation.
        within: Span,
        /// When after creation the features are read (0: at creation).
        #[serde(default)]
        observe: Span,
    },
}

/// A training set drawn from leads.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TrainingSet {
    /// One row per lead kept, columns as [`LeadFeatures::names`].
    pub table: Table,
    /// The labels, row by row.
    pub labels: Vec<bool>,
    /// The lead of each row.
    pub leads: Vec<LeadId>,
}

/// Draws a training set from `leads` under `target` as of `as_of`, each
/// lead read under the lifecycle it was folded with. Activity counts are
/// numeric; attribute kinds are inferred from the values.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use leadflow::predict::{LeadFeatures, Target, training_set};
/// use leadflow::{Actor, Engine, Event, EventBody, Reason, ReasonCode, Source};
/// let engine = Engine::from_json(r#"{"lifecycle": {"preset": "default"}}"#)?;
/// let t = |d| Utc.with_ymd_and_hms(2026, 5, d, 9, 0, 0).unwrap();
/// let mut won = engine.new_lead("a");
/// engine.ingest(&mut won, Event::new("a1", "a", t(1), EventBody::Created {
///     stage: "SQL".into(), source: Source::Sales, actor: Actor::Sales }));
/// engine.ingest(&mut won, Event::new("a2", "a", t(2), EventBody::Advanced {
///     to: "Won".into(), actor: Actor::Sales, reason: None }));
/// let mut lost = engine.new_lead("b");
/// engine.ingest(&mut lost, Event::new("b1", "b", t(1), EventBody::Created {
///     stage: "SQL".into(), source: Source::Sales, actor: Actor::Sales }));
/// engine.ingest(&mut lost, Event::new("b2", "b", t(3), EventBody::Advanced {
///     to: "Lost".into(), actor: Actor::Sales, reason: Some(Reason::new(ReasonCode::NoBudget)) }));
///
/// let features = LeadFeatures::new(["industry"], ["page_view"]);
/// let set = training_set([&won, &lost], &features, &Target::WonOrLost, t(9))?;
/// assert_eq!(set.labels, [true, false]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`PredictError::UnknownStage`] when a [`Target::Reached`] stage is not
/// in a lead's lifecycle; [`PredictError::BadOption`] when its `observe`
/// is longer than `within`.
pub fn training_set<'a>(
    leads: impl IntoIterator<Item = &'a Lead>,
    features: &LeadFeatures,
    target: &Target,
    as_of: Timestamp,
) -> Result<TrainingSet, PredictError> {
    if let Target::Reached {
        within, observe, ..
    } = target
        && observe > within
    {
        return Err(PredictError::BadOption {
            option: "observe",
            reason: format!(
                "features read {observe} after creation would come after the {within} horizon"
            ),
        });
    }
    let names = features.names();
    let mut rows = TableBuilder::new(names.iter().cloned());
    for kind in &features.activity_counts {
        rows = rows.kind(&format!("activities.{kind}"), FeatureKind::Numeric);
    }
    let mut labels = Vec::new();
    let mut ids = Vec::new();
    for lead in leads {
        let lc = &lead.lifecycle;
        let row = match target {
            Target::Reached {
                stage,
                within,
                observe,
            } => {
                let stage = lc.find(stage).ok_or_else(|| PredictError::UnknownStage {
                    stage: stage.clone(),
                })?;
                reached_row(lead, features, stage, *within, *observe, as_of)
            }
            Target::WonOrLost => closed_row(lc, lead, features, as_of),
        };
        if let Some((record, label)) = row {
            rows.push_record(&record);
            labels.push(label);
            ids.push(lead.id().clone());
        }
    }
    Ok(TrainingSet {
        table: rows.build()?,
        labels,
        leads: ids,
    })
}

/// A closed lead's features before its closing move, and whether it won.
fn closed_row(
    lc: &Lifecycle,
    lead: &Lead,
    features: &LeadFeatures,
    as_of: Timestamp,
) -> Option<(Attrs, bool)> {
    let close = lead.stage().history_until(as_of).last()?;
    let won = match lc.kind(close.to) {
        StageKind::Won => true,
        StageKind::Lost | StageKind::Disqualified => false,
        _ => return None,
    };
    // Strictly earlier than the closing move: a CRM often stamps the
    // outcome's fields (a lost reason, a final amount) at the very time of
    // the close, so nothing at that time counts.
    let at = close.at;
    Some((features.record_where(lead, |e| e.at < at), won))
}

/// A lead's features at creation + `observe`, and whether it reached
/// `stage` by creation + `within`.
fn reached_row(
    lead: &Lead,
    features: &LeadFeatures,
    stage: StageId,
    within: Span,
    observe: Span,
    as_of: Timestamp,
) -> Option<(Attrs, bool)> {
    let created = lead.stage().history().first()?.at;
    let horizon = created.checked_add_signed(within.to_delta())?;
    let seen = created.checked_add_signed(observe.to_delta())?;
    if horizon > as_of {
        return None;
    }
    // Entered, or passed on the path (recorded as skipped), as milestones
    // count.
    let reached_by = |t: Timestamp| {
        lead.stage()
            .history_until(t)
            .iter()
            .any(|tr| tr.to == stage || tr.skipped.contains(&stage))
    };
    if reached_by(seen) {
        return None;
    }
    Some((features.record(lead, seen), reached_by(horizon)))
}
