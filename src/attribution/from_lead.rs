//! Journeys from leads: a lead's activities become touches, its wins (or
//! its arrival at a stage) conversions, its cycle's milestones the anchors of
//! W-shaped and full-path models.

use serde::{Deserialize, Serialize};

use super::{Journey, Touch};
use crate::engine::Engine;
use crate::event::EventBody;
use crate::lead::Lead;
use crate::lifecycle::{Milestone, StageId};
use crate::types::{Span, Timestamp};

/// What an activity needs to count as a touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TouchRequirement {
    /// Every activity (of the chosen kinds); one without a channel is a
    /// touch on the channel `(none)`.
    #[default]
    Any,
    /// Activities that carry a channel.
    Channel,
    /// Activities that carry a campaign.
    Campaign,
}

/// What converts a journey.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConversionPoint {
    /// Entering a won stage, valued at the deal amount won (see
    /// [`Lead::wins`]).
    #[default]
    Won,
    /// Reaching a stage (entering it, or passing it on the path), once per
    /// cycle, with value 0: "reached SQL" journeys are counted, not valued.
    Stage(String),
}

/// How journeys are read from leads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JourneyOptions {
    /// Only activities of these kinds are touches (every kind when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// What an activity needs to be a touch.
    #[serde(default)]
    pub require: TouchRequirement,
    /// What converts.
    #[serde(default)]
    pub converts: ConversionPoint,
    /// Only touches this long before a conversion or less count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback: Option<Span>,
}

/// The journeys of a lead, in time order: one per conversion, made of the
/// touches after the previous conversion (or the lead's first touch) and at
/// or before this one (touches after a conversion are never credited to
/// it), with the milestones of the conversion's cycle; then, if touches
/// follow the last conversion, or the lead never converted, one journey of
/// those touches without conversion (a null path for fitting Markov or
/// Shapley models). A lead folded by another engine is read as `engine`
/// folds it.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use leadflow::attribution::{journeys_of, JourneyOptions};
/// use leadflow::{Actor, Engine, Event, EventBody, Source};
///
/// let engine = Engine::from_json(r#"{"lifecycle": {"preset": "default"}}"#)?;
/// let t = |d| Utc.with_ymd_and_hms(2026, 3, d, 9, 0, 0).unwrap();
/// let visit = |id: &str, d, channel: &str| Event::new(id, "ada", t(d), EventBody::Activity {
///     kind: "page_view".into(), channel: Some(channel.into()), campaign: None,
///     attrs: Default::default() });
/// let lead = engine.replay("ada", [
///     visit("1", 1, "email"),
///     Event::new("2", "ada", t(2), EventBody::Created {
///         stage: "Opportunity".into(), source: Source::Marketing, actor: Actor::Sales }),
///     serde_json::from_str(r#"{"id": "3", "lead": "ada", "at": "2026-03-03T09:00:00Z",
///         "body": {"type": "deal", "amount": "900.00"}}"#)?,
///     Event::new("4", "ada", t(4), EventBody::Advanced {
///         to: "Won".into(), actor: Actor::Sales, reason: None }),
///     visit("5", 5, "ads"),
/// ]);
/// let journeys = journeys_of(&engine, &lead, &JourneyOptions::default());
/// assert_eq!(journeys.len(), 2, "the win, then a null path of the later touch");
/// assert_eq!(journeys[0].touches.len(), 1);
/// assert_eq!(journeys[0].conversion.map(|c| c.value.to_string()), Some("900.00".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn journeys_of(engine: &Engine, lead: &Lead, options: &JourneyOptions) -> Vec<Journey> {
    let lead = engine.view(lead);
    let lc = engine.lifecycle();
    let touches: Vec<Touch> = lead
        .events()
        .iter()
        .filter_map(|e| touch_of(e, options))
        .collect();
    // (time, cycle, value) of each conversion, in time order.
    let conversions: Vec<(Timestamp, u32, rust_decimal::Decimal)> = match &options.converts {
        ConversionPoint::Won => lead
            .wins()
            .iter()
            .map(|w| (w.at, w.cycle, w.amount))
            .collect(),
        ConversionPoint::Stage(name) => match lc.find(name) {
            None => Vec::new(),
            Some(stage) => reached(lead.history(), stage),
        },
    };
    let mut out = Vec::with_capacity(conversions.len() + 1);
    let mut rest = touches.as_slice();
    for (at, cycle, value) in conversions {
        let n = rest.partition_point(|t| t.at <= at);
        let (mine, later) = rest.split_at(n);
        rest = later;
        let eligible: Vec<Touch> = mine
            .iter()
            .filter(|t| {
                options
                    .lookback
                    .is_none_or(|span| span.after(t.at).is_none_or(|end| end >= at))
            })
            .cloned()
            .collect();
        // Milestones of the conversion's cycle, reached by the conversion
        // (a later win is no anchor of a "reached SQL" journey).
        let milestone = |m| {
            lead.stage()
                .milestone_in_cycle(lc, m, cycle)
                .filter(|t| *t <= at)
        };
        let mut journey = Journey::new(eligible).converted(at, value);
        journey.milestones.lead_created = milestone(Milestone::LeadCreated);
        journey.milestones.opportunity_created = milestone(Milestone::OpportunityCreated);
        journey.milestones.closed_won = match options.converts {
            ConversionPoint::Won => Some(at),
            ConversionPoint::Stage(_) => milestone(Milestone::ClosedWon),
        };
        out.push(journey);
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(Journey::new(rest.to_vec()));
    }
    out
}

/// The touch an event makes under `options`, if any.
fn touch_of(e: &crate::event::Event, options: &JourneyOptions) -> Option<Touch> {
    let EventBody::Activity {
        kind,
        channel,
        campaign,
        attrs,
    } = &e.body
    else {
        return None;
    };
    if !options.kinds.is_empty() && !options.kinds.iter().any(|k| k == kind) {
        return None;
    }
    let ok = match options.require {
        TouchRequirement::Any => true,
        TouchRequirement::Channel => channel.is_some(),
        TouchRequirement::Campaign => campaign.is_some(),
    };
    ok.then(|| Touch {
        at: e.at,
        channel: channel
            .as_deref()
            .map_or_else(|| "(none)".to_owned(), str::to_owned),
        campaign: campaign.as_deref().map(str::to_owned),
        kind: Some(kind.to_string()),
        attrs: attrs.clone(),
    })
}

/// When a stage was first reached (entered or passed) in each cycle.
fn reached(
    history: &[crate::lifecycle::Transition],
    stage: StageId,
) -> Vec<(Timestamp, u32, rust_decimal::Decimal)> {
    let mut out: Vec<(Timestamp, u32, rust_decimal::Decimal)> = Vec::new();
    for t in history {
        if (t.to == stage || t.skipped.contains(&stage))
            && out.last().is_none_or(|l| l.1 != t.cycle)
        {
            out.push((t.at, t.cycle, rust_decimal::Decimal::ZERO));
        }
    }
    out
}

/// The channel path of every journey added to a [`PathTally`](super::PathTally):
/// a converted journey as one conversion with its value, any other as one
/// null. Journeys without touches are left out (a path needs a channel).
pub fn tally_journeys<'a>(
    tally: &mut super::PathTally,
    journeys: impl IntoIterator<Item = &'a Journey>,
) {
    for j in journeys {
        if j.touches.is_empty() {
            continue;
        }
        let path = j.touches.iter().map(|t| t.channel.as_str());
        match &j.conversion {
            Some(c) => tally.add(path, 1, 0, Some(c.value)),
            None => tally.add(path, 0, 1, None),
        }
    }
}

/// The journeys of every lead of a store (see [`journeys_of`]), by lead
/// id: ready for any attribution model, for fitting Markov and Shapley
/// models through [`tally_journeys`](crate::attribution::tally_journeys),
/// and for reports by channel and campaign.
pub fn journeys_of_store(
    store: &crate::LeadStore,
    options: &JourneyOptions,
) -> Vec<(crate::LeadId, Journey)> {
    store
        .leads()
        .flat_map(|lead| {
            journeys_of(store.engine(), lead, options)
                .into_iter()
                .map(|j| (lead.id().clone(), j))
        })
        .collect()
}
