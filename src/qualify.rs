//! Qualification rules: compile and run-time (semantics on `QualificationConfig`).

use std::collections::HashSet;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::attr::{Attrs, Lists, Predicate, PredicateConfig};
use crate::error::{ConfigError, ConfigErrorKind, unique_id};
use crate::event::Event;
use crate::grading::Grade;
use crate::lead::Folded;
use crate::lifecycle::{Lifecycle, StageId};
use crate::points::micros;
use crate::types::Timestamp;

/// A score clause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreAtLeast {
    /// The group (default: the total score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The threshold (inclusive), an exact decimal compared exactly.
    #[serde(deserialize_with = "crate::exact::decimal")]
    pub min: Decimal,
}

/// A qualification condition: every clause given must hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// The score must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<ScoreAtLeast>,
    /// The grade must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_grade: Option<Grade>,
    /// The lead must be in one of these stages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// Predicates on the lead's profile attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<PredicateConfig>,
    /// The predictive model's probability must be at least this (the
    /// engine needs a `predictive` model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<ProbabilityAtLeast>,
}

/// A probability clause.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbabilityAtLeast {
    /// The threshold (inclusive), from 0 to 1.
    pub min: f64,
}

/// When a fired rule may fire again.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Rearm {
    /// Never again.
    #[default]
    Never,
    /// After the score falls below the threshold minus this margin.
    #[serde(deserialize_with = "crate::exact::decimal")]
    Hysteresis(Decimal),
    /// When the lead starts a new cycle.
    NewCycle,
}

/// A qualification rule as written in configs.
///
/// ```
/// let rule: leadflow::QualificationConfig = serde_json::from_str(r#"{
///   "id": "mql",
///   "when": {"score": {"min": 100}, "min_grade": "B-", "stages": ["Anonymous"]},
///   "then": "MQL",
///   "rearm": {"hysteresis": 20}
/// }"#).unwrap();
/// assert_eq!(rule.then, "MQL");
/// ```
///
/// # Semantics
///
/// A rule's condition holds when every clause given holds: the score (total,
/// or one group's) is at least `min`; the grade is at least `min_grade`; the
/// lead is in one of `stages`; every attribute predicate matches the lead's
/// profile; the engine's predictive model gives at least
/// `probability.min` (its features read from the folded profile and
/// activity counts). Conditions are evaluated at every event that is not a stage
/// move (activities, profile changes, score adjustments, identifications and
/// creation), since the library has no clock: once just before the event's
/// effects (at the event's time, so decay up to it counts) and once after.
///
/// A rule **fires on an edge**: when it is armed and its condition went from
/// false before the event to true after it — the score crossing its
/// threshold upward, or another clause becoming true (the grade rising, an
/// attribute set). A condition that stays true never fires again, so an
/// event that lowers the score never fires a rule. Stage moves (`advanced`,
/// `recycled`, `regressed`) never fire rules: the state after a move is the
/// baseline the next event is compared with, so a person's recycle or
/// regress is not undone on the spot by a rule the move made true; the lead
/// re-qualifies on its next upward crossing. A lead created while the
/// condition holds (a 0-point threshold) fires at its creation. Firing
/// disarms the rule and moves the lead to `then` with an
/// ordinary transition (actor `system`, reason `rule_fired` with the rule id
/// as note); if that move is not allowed (the lead is already there or
/// beyond, or in a terminal stage) nothing moves, and the edge is still
/// spent. Re-arming: `never` (default), `{"hysteresis": h}` (when the score
/// falls below `min − h`, or, for a rule without a score clause, when the
/// condition stops holding), or `new_cycle` (when the lead is recycled);
/// a re-armed rule fires on its next edge. `then` must be a stage a forward
/// move can enter: neither the recycled nor the initial stage.
/// Rules are evaluated in config order, each seeing the moves of the ones
/// before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualificationConfig {
    /// A unique id, named in the transition's reason.
    pub id: String,
    /// The condition.
    pub when: ConditionConfig,
    /// The stage to move the lead to.
    pub then: String,
    /// When it may fire again.
    #[serde(default)]
    pub rearm: Rearm,
}

/// Where the score clause reads from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ScoreSource {
    Total,
    Group(u16),
}

#[derive(Debug, Clone)]
pub(crate) struct Qualifier {
    pub(crate) id: String,
    /// The clause's source and threshold in millionths.
    pub(crate) score: Option<(ScoreSource, i128)>,
    pub(crate) min_grade: Option<Grade>,
    /// The probability threshold.
    pub(crate) probability: Option<f64>,
    pub(crate) stages: Vec<StageId>,
    pub(crate) attrs: Vec<Predicate>,
    pub(crate) then: StageId,
    pub(crate) rearm: Rearm,
    /// The hysteresis margin in millionths (0 unless `rearm` is one).
    pub(crate) margin: i128,
}

impl Qualifier {
    /// Per stage index (of `stages`): whether none of `rules` can hold
    /// while a lead is there — every rule names stages, none this one.
    pub(crate) fn quiet_stages(rules: &[Self], stages: usize) -> Vec<bool> {
        (0..stages)
            .map(|s| {
                rules
                    .iter()
                    .all(|q| !q.stages.is_empty() && q.stages.iter().all(|t| t.index() != s))
            })
            .collect()
    }

    /// Compiles the rules in order; every error names the rule's item.
    pub(crate) fn compile_all(
        rules: &[QualificationConfig],
        cx: &Context<'_>,
    ) -> Result<Vec<Self>, ConfigError> {
        let mut ids: HashSet<&str> = HashSet::with_capacity(rules.len());
        rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let path = format!("qualification[{i}]");
                unique_id(&mut ids, &r.id, || format!("{path}.id"))?;
                Self::compile(r, cx, &Here(&path))
            })
            .collect()
    }

    fn compile(
        r: &QualificationConfig,
        cx: &Context<'_>,
        here: &Here<'_>,
    ) -> Result<Self, ConfigError> {
        let w = &r.when;
        if w.score.is_none()
            && w.min_grade.is_none()
            && w.stages.is_empty()
            && w.attrs.is_empty()
            && w.probability.is_none()
        {
            return Err(here.error(
                ".when",
                ConfigErrorKind::Empty {
                    what: "a qualification condition".into(),
                },
            ));
        }
        let stages = w
            .stages
            .iter()
            .enumerate()
            .map(|(j, s)| cx.stage(s, here, &format!(".when.stages[{j}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let attrs = w
            .attrs
            .iter()
            .enumerate()
            .map(|(j, pc)| {
                Predicate::compile(pc, cx.lists, &here.path(&format!(".when.attrs[{j}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Qualifier {
            id: r.id.clone(),
            score: w.score.as_ref().map(|s| cx.score(s, here)).transpose()?,
            probability: cx.probability(w.probability, here)?,
            min_grade: w.min_grade,
            stages,
            attrs,
            then: cx.then(&r.then, here)?,
            rearm: r.rearm,
            margin: margin(r.rearm, here)?,
        })
    }

    /// Whether the non-score clauses hold.
    pub(crate) fn holds_besides_score(
        &self,
        grade: Option<Grade>,
        stage: StageId,
        attrs: &Attrs,
    ) -> bool {
        self.min_grade.is_none_or(|m| grade.is_some_and(|g| g >= m))
            && (self.stages.is_empty() || self.stages.contains(&stage))
            && self.attrs.iter().all(|p| p.eval(attrs) == Some(true))
    }
}

/// Where in the config a rule is, for its errors.
struct Here<'a>(&'a str);

impl Here<'_> {
    fn path(&self, field: &str) -> String {
        format!("{}{field}", self.0)
    }

    fn error(&self, field: &str, kind: ConfigErrorKind) -> ConfigError {
        ConfigError::new(self.path(field), kind)
    }
}

/// What rules are compiled against: the lifecycle, the score groups, the
/// named lists and whether the engine has a predictive model.
pub(crate) struct Context<'a> {
    pub(crate) lifecycle: &'a Lifecycle,
    pub(crate) groups: &'a [String],
    pub(crate) lists: &'a Lists,
    pub(crate) has_model: bool,
}

impl Context<'_> {
    fn stage(&self, name: &str, here: &Here<'_>, field: &str) -> Result<StageId, ConfigError> {
        self.lifecycle.find(name).ok_or_else(|| {
            here.error(
                field,
                ConfigErrorKind::UnknownStage {
                    name: name.to_owned(),
                },
            )
        })
    }

    /// The stage a rule moves to: a forward move can never enter the
    /// recycled stage (only a recycle does) or the initial stage (every
    /// lead starts there; nothing moves up into it).
    fn then(&self, name: &str, here: &Here<'_>) -> Result<StageId, ConfigError> {
        let then = self.stage(name, here, ".then")?;
        let why = if Some(then) == self.lifecycle.recycled() {
            "only a recycle event enters the recycled stage"
        } else if then == self.lifecycle.initial() {
            "it is the initial stage, which no forward move enters"
        } else {
            return Ok(then);
        };
        Err(here.error(
            ".then",
            ConfigErrorKind::Unreachable {
                stage: name.to_owned(),
                why: why.into(),
            },
        ))
    }

    fn score(&self, s: &ScoreAtLeast, here: &Here<'_>) -> Result<(ScoreSource, i128), ConfigError> {
        let min = micros(s.min).map_err(|problem| {
            here.error(
                ".when.score.min",
                ConfigErrorKind::OutOfRange {
                    value: s.min.to_string(),
                    expected: problem.expected("a threshold"),
                },
            )
        })?;
        let source = match &s.group {
            None => ScoreSource::Total,
            Some(g) => {
                let index = self.groups.iter().position(|x| x == g).ok_or_else(|| {
                    here.error(
                        ".when.score.group",
                        ConfigErrorKind::Unknown {
                            what: "score group".into(),
                            name: g.clone(),
                        },
                    )
                })?;
                ScoreSource::Group(u16::try_from(index).unwrap_or(u16::MAX))
            }
        };
        Ok((source, min))
    }

    fn probability(
        &self,
        clause: Option<ProbabilityAtLeast>,
        here: &Here<'_>,
    ) -> Result<Option<f64>, ConfigError> {
        match clause {
            None => Ok(None),
            Some(_) if !self.has_model => Err(here.error(
                ".when.probability",
                ConfigErrorKind::Needs {
                    what: "a probability clause".into(),
                    needs: "a predictive model (`predictive`)".into(),
                },
            )),
            Some(ProbabilityAtLeast { min }) if !(0.0..=1.0).contains(&min) => Err(here.error(
                ".when.probability.min",
                ConfigErrorKind::OutOfRange {
                    value: min.to_string(),
                    expected: "a probability from 0 to 1".into(),
                },
            )),
            Some(ProbabilityAtLeast { min }) => Ok(Some(min)),
        }
    }
}

/// A hysteresis margin in millionths (0 for the other re-arm policies).
fn margin(rearm: Rearm, here: &Here<'_>) -> Result<i128, ConfigError> {
    let Rearm::Hysteresis(h) = rearm else {
        return Ok(0);
    };
    let out_of_range = |expected: String| {
        here.error(
            ".rearm.hysteresis",
            ConfigErrorKind::OutOfRange {
                value: h.to_string(),
                expected,
            },
        )
    };
    let m = micros(h).map_err(|problem| out_of_range(problem.expected("a margin")))?;
    if m < 0 {
        return Err(out_of_range("a margin of at least 0".into()));
    }
    Ok(m)
}

/// The rules at run time: what a condition reads (the scoring model, the
/// predictive model) and where a firing rule moves the lead.
pub(crate) struct Runtime<'a> {
    pub(crate) rules: &'a [Qualifier],
    pub(crate) scoring: &'a crate::scoring::Model,
    pub(crate) predictive: Option<&'a crate::predict::PredictiveConfig>,
    pub(crate) lifecycle: &'a Lifecycle,
    /// Per stage: whether no rule can hold there (see the engine).
    pub(crate) quiet: &'a [bool],
    /// Whether some rule re-arms: when none does (the default), a fired
    /// rule stays disarmed and re-arming has nothing to look at.
    pub(crate) rearms: bool,
}

impl Runtime<'_> {
    /// Whether no rule can hold while a lead is in `stage`.
    pub(crate) fn quiet(&self, stage: StageId) -> bool {
        self.quiet.get(stage.index()).copied().unwrap_or(false)
    }

    /// The score a qualification clause reads, at event time.
    fn clause_score(&self, st: &mut Folded, source: ScoreSource, at: Timestamp) -> i128 {
        let model = &self.scoring;
        match source {
            ScoreSource::Total => st.score.total_now(model, at),
            ScoreSource::Group(g) => st.score.group_now(model, g, at),
        }
    }

    /// The predictive model's probability for the folded state (its
    /// profile and activity counts), if the engine has a model.
    fn clause_probability(&self, st: &Folded) -> Option<f64> {
        let predictive = self.predictive?;
        let features = &predictive.features;
        let profile: Attrs = features
            .attributes
            .iter()
            .filter_map(|name| Some((name.clone(), st.attrs.get(name)?.clone())))
            .collect();
        let record = features.with_counts(profile, &st.activity);
        Some(predictive.model.probability(&record))
    }

    /// Whether rule `q`'s whole condition holds at `at` with the lead in
    /// `stage`; `probability` caches the model's answer for this state.
    fn holds(
        &self,
        st: &mut Folded,
        q: &Qualifier,
        stage: StageId,
        at: Timestamp,
        probability: &mut Option<Option<f64>>,
    ) -> bool {
        q.holds_besides_score(st.grade, stage, &st.attrs)
            && q.probability.is_none_or(|min| {
                probability
                    .get_or_insert_with(|| self.clause_probability(st))
                    .is_some_and(|p| p >= min)
            })
            && q.score
                .is_none_or(|(source, min)| self.clause_score(st, source, at) >= min)
    }

    /// Whether each rule's condition holds at `at` with the lead in `stage`.
    pub(crate) fn conditions(
        &self,
        st: &mut Folded,
        stage: StageId,
        at: Timestamp,
        out: &mut [bool],
    ) {
        let mut probability = None;
        for (q, held) in self.rules.iter().zip(out.iter_mut()) {
            *held = self.holds(st, q, stage, at, &mut probability);
        }
    }

    /// Re-arms disarmed rules whose re-arm condition holds now.
    #[inline]
    pub(crate) fn rearm(&self, st: &mut Folded, at: Timestamp) {
        if self.rearms {
            self.rearm_each(st, at);
        }
    }

    /// [`rearm`](Self::rearm), rule by rule.
    fn rearm_each(&self, st: &mut Folded, at: Timestamp) {
        for (i, q) in self.rules.iter().enumerate() {
            let Some(arm) = st.arms.get(i).copied() else {
                continue;
            };
            if arm.armed {
                continue;
            }
            let rearm = match q.rearm {
                Rearm::Never => false,
                Rearm::NewCycle => st.stage.cycle() > arm.fired_cycle,
                Rearm::Hysteresis(_) => match q.score {
                    Some((source, min)) => self.clause_score(st, source, at) < min - q.margin,
                    None => {
                        let stage = st.stage.current();
                        !self.holds(st, q, stage, at, &mut None)
                    }
                },
            };
            if rearm && let Some(a) = st.arms.get_mut(i) {
                a.armed = true;
            }
        }
    }

    /// Fires armed rules whose condition went from false (`before`) to
    /// true at this event.
    pub(crate) fn fire(&self, st: &mut Folded, event: &Event, before: &[bool]) {
        self.rearm(st, event.at);
        // No rule holds in a quiet stage, so none fires and the stage
        // stays what it is.
        if self.quiet(st.stage.current()) {
            return;
        }
        // Rules move stages, never the profile or the counts the model
        // reads: one probability serves every rule.
        let mut probability = None;
        for (i, q) in self.rules.iter().enumerate() {
            if before.get(i).copied().unwrap_or(false) {
                continue;
            }
            if !st.arms.get(i).is_some_and(|a| a.armed) {
                continue;
            }
            let stage = st.stage.current();
            if !self.holds(st, q, stage, event.at, &mut probability) {
                continue;
            }
            let cycle = st.stage.cycle();
            if let Some(a) = st.arms.get_mut(i) {
                a.armed = false;
                a.fired_cycle = cycle;
            }
            st.stage.fire(self.lifecycle, event, q.then, &q.id);
        }
    }
}
