//! Stages as data: the lifecycle config, its presets and the compiled lifecycle (semantics on `LifecycleConfig`).

mod sla;
mod state;

pub(crate) use sla::sla_status;
pub use sla::{SlaState, SlaStatus};
pub use state::{Merge, StageState, Transition, TransitionKind};
pub(crate) use state::{SavedStage, StageMark};

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, ConfigErrorKind};
use crate::types::Span;

/// The most stages a lifecycle may have.
const MAX_STAGES: usize = 1_000;

/// The index of a stage in its [`Lifecycle`]. Valid only for the lifecycle
/// that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StageId(u16);

impl StageId {
    /// The first stage of a lifecycle's list (a placeholder before a lead
    /// has a stage).
    pub(crate) const FIRST: StageId = StageId(0);

    /// The stage's position in the lifecycle's stage list.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// The kind of a stage, as written in configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StageKindName {
    /// An ordinary stage.
    Open,
    /// A stage that must be left within a duration.
    Sla,
    /// Closed won (terminal).
    Won,
    /// Closed lost (terminal).
    Lost,
    /// Disqualified (terminal).
    Disqualified,
    /// Where recycled leads wait; entering it starts a new cycle.
    Recycled,
}

/// The compiled kind of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StageKind {
    /// An ordinary stage.
    Open,
    /// A stage that must be left within `within`; `due_soon` before the
    /// deadline the lead counts as due soon.
    Sla {
        /// The SLA.
        within: Span,
        /// The warning window before the deadline.
        due_soon: Span,
    },
    /// Closed won (terminal).
    Won,
    /// Closed lost (terminal).
    Lost,
    /// Disqualified (terminal).
    Disqualified,
    /// Where recycled leads wait.
    Recycled,
}

impl StageKind {
    /// Won, lost and disqualified stages: the only way out is a recycle.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Won | Self::Lost | Self::Disqualified)
    }

    /// Open and SLA stages: the path a lead walks, counted as skipped when
    /// jumped over.
    pub fn is_on_path(self) -> bool {
        matches!(self, Self::Open | Self::Sla { .. })
    }
}

/// A milestone role, used by attribution (W-shaped, full path) and funnel
/// reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Milestone {
    /// The lead became known.
    LeadCreated,
    /// An opportunity was opened.
    OpportunityCreated,
    /// The deal was won.
    ClosedWon,
}

crate::types::display_by_serde_name!(Milestone);

/// One stage as written in a config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// The unique name (`"MQL"`).
    pub name: String,
    /// The unique rank: ordinary moves go to higher ranks.
    pub rank: i32,
    /// The kind.
    pub kind: StageKindName,
    /// For `sla` stages: the time a lead may stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Span>,
    /// For `sla` stages: how long before the deadline a lead is due soon
    /// (default: a quarter of `within`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_soon: Option<Span>,
    /// The milestone this stage marks, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone: Option<Milestone>,
}

impl StageConfig {
    /// A stage config with no SLA and no milestone.
    pub fn new(name: impl Into<String>, rank: i32, kind: StageKindName) -> Self {
        Self {
            name: name.into(),
            rank,
            kind,
            within: None,
            due_soon: None,
            milestone: None,
        }
    }

    /// The same stage as an SLA stage that must be left `within`.
    #[must_use]
    pub fn with_sla(mut self, within: Span) -> Self {
        self.kind = StageKindName::Sla;
        self.within = Some(within);
        self
    }

    /// The same stage marking a milestone.
    #[must_use]
    pub fn with_milestone(mut self, milestone: Milestone) -> Self {
        self.milestone = Some(milestone);
        self
    }
}

/// A rule restricting ordinary moves out of one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedMoves {
    /// The stage the rule is about.
    pub from: String,
    /// The only stages an ordinary move from `from` may go to.
    pub to: Vec<String>,
}

/// The shipped lifecycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Preset {
    /// Anonymous, MQL (SLA 24 h), SQL, Opportunity, Won, Lost, Recycled.
    Default,
    /// The SiriusDecisions waterfall: Anonymous, Inquiry, MQL (SLA 24 h), SAL,
    /// SQL, Opportunity, Won, Lost, Recycled, Disqualified.
    Waterfall,
}

/// A lifecycle as written in a config: either a preset or a list of stages.
///
/// ```
/// let json = r#"{
///   "stages": [
///     {"name": "Visitor", "rank": 0, "kind": "open"},
///     {"name": "Lead", "rank": 10, "kind": "sla", "within": "2d", "milestone": "lead_created"},
///     {"name": "Customer", "rank": 20, "kind": "won", "milestone": "closed_won"}
///   ],
///   "initial": "Visitor"
/// }"#;
/// let config: leadflow::LifecycleConfig = serde_json::from_str(json).unwrap();
/// let lifecycle = leadflow::Lifecycle::new(config)?;
/// assert_eq!(lifecycle.stages().len(), 3);
/// # Ok::<(), leadflow::ConfigError>(())
/// ```
///
/// ```
/// use leadflow::{Lifecycle, LifecycleConfig, Preset, StageKind};
///
/// let lifecycle = Lifecycle::new(LifecycleConfig::preset(Preset::Waterfall))?;
/// let mql = lifecycle.find("MQL").expect("the waterfall has an MQL stage");
/// assert!(matches!(lifecycle.stage(mql).map(|s| s.kind()), Some(StageKind::Sla { .. })));
/// # Ok::<(), leadflow::ConfigError>(())
/// ```
///
/// # Semantics
///
/// * Every stage has a unique name and a unique rank. Ordinary moves go
///   forward by rank; moving down is only possible through an explicit
///   recycle (to the lifecycle's one `recycled` stage, starting a new cycle)
///   or regress (to a lower open or SLA stage), both of which require a
///   [`Reason`](crate::Reason).
/// * `won`, `lost` and `disqualified` stages are terminal: the only way out is
///   a recycle. Entering a `lost` or `disqualified` stage requires a reason.
/// * The optional `allowed` rules restrict, per stage, which stages an
///   ordinary move may go to. A stage without a rule allows every forward
///   move.
/// * A stage of kind `sla` carries a duration (`within`) and a warning window
///   (`due_soon`, default a quarter of `within`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleConfig {
    /// A shipped lifecycle to use instead of `stages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// The stages, in any order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageConfig>,
    /// The stage a new lead starts in (an open or SLA stage). With a
    /// preset, it replaces the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<String>,
    /// Optional restrictions on ordinary moves. With a preset, they replace
    /// the preset's (which has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<AllowedMoves>,
}

impl LifecycleConfig {
    /// The stages of a shipped preset, spelled out.
    pub fn preset(preset: Preset) -> Self {
        use StageKindName::*;
        let s = StageConfig::new;
        let stages = match preset {
            Preset::Default => vec![
                s("Anonymous", 0, Open),
                s("Recycled", 10, Recycled),
                s("MQL", 20, Open)
                    .with_sla(Span::hours(24))
                    .with_milestone(Milestone::LeadCreated),
                s("SQL", 30, Open),
                s("Opportunity", 40, Open).with_milestone(Milestone::OpportunityCreated),
                s("Lost", 50, Lost),
                s("Won", 60, Won).with_milestone(Milestone::ClosedWon),
            ],
            Preset::Waterfall => vec![
                s("Anonymous", 0, Open),
                s("Recycled", 10, Recycled),
                s("Inquiry", 20, Open).with_milestone(Milestone::LeadCreated),
                s("MQL", 30, Open).with_sla(Span::hours(24)),
                s("SAL", 40, Open),
                s("SQL", 50, Open),
                s("Opportunity", 60, Open).with_milestone(Milestone::OpportunityCreated),
                s("Disqualified", 65, Disqualified),
                s("Lost", 70, Lost),
                s("Won", 80, Won).with_milestone(Milestone::ClosedWon),
            ],
        };
        Self {
            preset: None,
            stages,
            initial: Some("Anonymous".to_owned()),
            allowed: Vec::new(),
        }
    }
}

/// One compiled stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    name: String,
    rank: i32,
    kind: StageKind,
    milestone: Option<Milestone>,
}

impl Stage {
    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The stage's rank.
    pub fn rank(&self) -> i32 {
        self.rank
    }
    /// The stage's kind.
    pub fn kind(&self) -> StageKind {
        self.kind
    }
    /// The milestone the stage marks, if any.
    pub fn milestone(&self) -> Option<Milestone> {
        self.milestone
    }
}

/// A validated lifecycle: immutable, cheap to clone, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: LifecycleConfig,
    stages: Vec<Stage>,
    initial: StageId,
    recycled: Option<StageId>,
    /// Per stage: the stages an ordinary move may go to, if restricted.
    allowed: Vec<Option<Vec<StageId>>>,
    /// On-path stages sorted by rank, for computing skipped stages.
    path: Vec<StageId>,
    /// Per stage: how many path stages rank at or below it, and below it
    /// (where the stages a move skips begin and end in `path`).
    path_cuts: Vec<(usize, usize)>,
}

impl Lifecycle {
    /// Validates a config into a lifecycle.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending item: no stages, a preset
    /// together with stages, duplicate names or ranks, an SLA stage without
    /// a duration (or a duration on another kind), a missing or terminal
    /// initial stage, more than one recycled stage or milestone of a role,
    /// an unknown stage in an `allowed` rule.
    pub fn new(config: LifecycleConfig) -> Result<Self, ConfigError> {
        Self::compile(config, "")
    }

    pub(crate) fn compile(config: LifecycleConfig, prefix: &str) -> Result<Self, ConfigError> {
        let at = At(prefix);
        let spelled;
        let source = match (config.preset, config.stages.is_empty()) {
            (Some(_), false) => {
                return Err(at.error("preset", ConfigErrorKind::PresetAndStages));
            }
            (Some(p), true) => {
                // A preset's stages with the config's own `initial` and
                // `allowed`, checked against them like any others.
                let mut preset = LifecycleConfig::preset(p);
                if config.initial.is_some() {
                    preset.initial.clone_from(&config.initial);
                }
                if !config.allowed.is_empty() {
                    preset.allowed.clone_from(&config.allowed);
                }
                spelled = preset;
                &spelled
            }
            (None, _) => &config,
        };
        if source.stages.is_empty() {
            return Err(at.error("stages", ConfigErrorKind::NoStages));
        }
        if source.stages.len() > MAX_STAGES {
            return Err(at.error("stages", ConfigErrorKind::TooManyStages { max: MAX_STAGES }));
        }
        let mut stages: Vec<Stage> = Vec::with_capacity(source.stages.len());
        for (i, sc) in source.stages.iter().enumerate() {
            let stage = compile_stage(sc, &stages, &at, &format!("stages[{i}]"))?;
            stages.push(stage);
        }
        let recycled = stages
            .iter()
            .position(|s| s.kind == StageKind::Recycled)
            .map(StageId::of);
        let initial = compile_initial(source.initial.as_deref(), &stages, &at)?;
        let allowed = compile_allowed(&source.allowed, &stages, &at)?;
        let mut path: Vec<StageId> = (0..stages.len())
            .filter(|&i| stages[i].kind.is_on_path())
            .map(StageId::of)
            .collect();
        path.sort_by_key(|id| stages[id.index()].rank);
        let path_cuts = stages
            .iter()
            .map(|s| {
                let upto = path.partition_point(|id| stages[id.index()].rank <= s.rank);
                let below = path.partition_point(|id| stages[id.index()].rank < s.rank);
                (upto, below)
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                stages,
                initial,
                recycled,
                allowed,
                path,
                path_cuts,
            }),
        })
    }

    /// The config this lifecycle was compiled from.
    pub fn config(&self) -> &LifecycleConfig {
        &self.inner.config
    }

    /// All stages, in config order (a [`StageId`] indexes this slice).
    pub fn stages(&self) -> &[Stage] {
        &self.inner.stages
    }

    /// The stage with this id, if it belongs to this lifecycle.
    pub fn stage(&self, id: StageId) -> Option<&Stage> {
        self.inner.stages.get(id.index())
    }

    /// The stage's name, or `"?"` for an id from another lifecycle.
    pub fn name(&self, id: StageId) -> &str {
        self.stage(id).map_or("?", Stage::name)
    }

    /// The id of the stage with this name (exact match).
    pub fn find(&self, name: &str) -> Option<StageId> {
        self.inner
            .stages
            .iter()
            .position(|s| crate::hash::same_str(&s.name, name))
            .map(|i| StageId(i as u16))
    }

    /// The stage new leads start in.
    pub fn initial(&self) -> StageId {
        self.inner.initial
    }

    /// The stage recycled leads go to, if the lifecycle has one.
    pub fn recycled(&self) -> Option<StageId> {
        self.inner.recycled
    }

    /// The stage marking a milestone, if any.
    pub fn milestone(&self, role: Milestone) -> Option<StageId> {
        self.inner
            .stages
            .iter()
            .position(|s| s.milestone == Some(role))
            .map(|i| StageId(i as u16))
    }

    pub(crate) fn rank(&self, id: StageId) -> i32 {
        self.stage(id).map_or(i32::MIN, Stage::rank)
    }

    pub(crate) fn kind(&self, id: StageId) -> StageKind {
        self.stage(id).map_or(StageKind::Open, Stage::kind)
    }

    pub(crate) fn allows(&self, from: StageId, to: StageId) -> bool {
        match self.inner.allowed.get(from.index()) {
            Some(Some(list)) => list.contains(&to),
            _ => true,
        }
    }

    /// The path stages a move from `from` (or an entry, `None`) to `to`
    /// passes: path stages ranked strictly between the two, when `to` is a
    /// path or won stage. Entering lost, disqualified or recycled passes
    /// nothing: a lead disqualified from MQL never passed SQL.
    pub(crate) fn skipped_on_way(&self, from: Option<StageId>, to: StageId) -> Vec<StageId> {
        let kind = self.kind(to);
        if !(kind.is_on_path() || kind == StageKind::Won) {
            return Vec::new();
        }
        // The path is sorted by rank: the stages between are one slice,
        // whose ends were found when the lifecycle was compiled (no
        // allocation when it is empty).
        let cut = |id: StageId| self.inner.path_cuts.get(id.index()).copied();
        // An entry comes from below every path stage (one ranked
        // `i32::MIN` included).
        let first = from.and_then(cut).map_or(0, |(upto, _)| upto);
        let end = cut(to).map_or(0, |(_, below)| below);
        self.inner
            .path
            .get(first..end)
            .map_or_else(Vec::new, <[StageId]>::to_vec)
    }
}

/// The longest SLA, in days (a century), so that every due time is a
/// representable date.
const MAX_SLA_DAYS: u32 = 36_500;

/// Where in the config the lifecycle is, for its errors.
struct At<'a>(&'a str);

impl At<'_> {
    fn error(&self, field: &str, kind: ConfigErrorKind) -> ConfigError {
        ConfigError::new(format!("{}{field}", self.0), kind)
    }
}

impl StageId {
    /// The id of the stage at `index` (below [`MAX_STAGES`]).
    fn of(index: usize) -> Self {
        StageId(u16::try_from(index).unwrap_or(u16::MAX))
    }
}

/// One stage, checked against the stages before it: a unique name and
/// rank, a kind with its durations, at most one recycled stage and one
/// stage per milestone.
fn compile_stage(
    sc: &StageConfig,
    before: &[Stage],
    at: &At<'_>,
    path: &str,
) -> Result<Stage, ConfigError> {
    let p = |f: &str| format!("{path}{f}");
    if sc.name.trim().is_empty() {
        return Err(at.error(&p(".name"), ConfigErrorKind::EmptyName));
    }
    if before.iter().any(|s| s.name == sc.name) {
        return Err(at.error(
            &p(".name"),
            ConfigErrorKind::DuplicateStageName {
                name: sc.name.clone(),
            },
        ));
    }
    if let Some(other) = before.iter().find(|s| s.rank == sc.rank) {
        return Err(at.error(
            &p(".rank"),
            ConfigErrorKind::DuplicateRank {
                rank: sc.rank,
                other: other.name.clone(),
            },
        ));
    }
    let kind = stage_kind(sc, at, path)?;
    if kind == StageKind::Recycled
        && let Some(other) = before.iter().find(|s| s.kind == StageKind::Recycled)
    {
        return Err(at.error(
            &p(".kind"),
            ConfigErrorKind::DuplicateRole {
                what: "of kind recycled".into(),
                other: other.name.clone(),
            },
        ));
    }
    if let Some(m) = sc.milestone
        && let Some(other) = before.iter().find(|s| s.milestone == Some(m))
    {
        return Err(at.error(
            &p(".milestone"),
            ConfigErrorKind::DuplicateRole {
                what: format!("the {m:?} milestone"),
                other: other.name.clone(),
            },
        ));
    }
    Ok(Stage {
        name: sc.name.clone(),
        rank: sc.rank,
        kind,
        milestone: sc.milestone,
    })
}

/// A stage's compiled kind: an SLA stage needs a positive `within` and a
/// `due_soon` shorter than it (default a quarter of it); no other kind
/// takes durations.
fn stage_kind(sc: &StageConfig, at: &At<'_>, path: &str) -> Result<StageKind, ConfigError> {
    let p = |f: &str| format!("{path}{f}");
    if sc.kind != StageKindName::Sla {
        if sc.within.is_some() || sc.due_soon.is_some() {
            let f = if sc.within.is_some() {
                ".within"
            } else {
                ".due_soon"
            };
            return Err(at.error(&p(f), ConfigErrorKind::DurationOnNonSla));
        }
        return Ok(match sc.kind {
            StageKindName::Won => StageKind::Won,
            StageKindName::Lost => StageKind::Lost,
            StageKindName::Disqualified => StageKind::Disqualified,
            StageKindName::Recycled => StageKind::Recycled,
            _ => StageKind::Open,
        });
    }
    let within = sc
        .within
        .ok_or_else(|| at.error(&p(".within"), ConfigErrorKind::SlaWithoutDuration))?;
    if within.is_zero() {
        return Err(at.error(&p(".within"), ConfigErrorKind::ZeroDuration));
    }
    // Every due time must be a date chrono can hold (it ends in the year
    // 262 142): a century is far beyond any service level.
    if within > Span::days(MAX_SLA_DAYS) {
        return Err(at.error(
            &p(".within"),
            ConfigErrorKind::OutOfRange {
                value: within.to_string(),
                expected: format!("an SLA of at most {MAX_SLA_DAYS} days"),
            },
        ));
    }
    let due_soon = sc.due_soon.unwrap_or_else(|| within.divided(4));
    if due_soon >= within {
        return Err(at.error(
            &p(".due_soon"),
            ConfigErrorKind::DueSoonTooLong { due_soon, within },
        ));
    }
    Ok(StageKind::Sla { within, due_soon })
}

fn find(stages: &[Stage], name: &str) -> Option<StageId> {
    stages.iter().position(|s| s.name == name).map(StageId::of)
}

/// The initial stage: named, known, and on the path (open or SLA).
fn compile_initial(
    initial: Option<&str>,
    stages: &[Stage],
    at: &At<'_>,
) -> Result<StageId, ConfigError> {
    let name = initial.ok_or_else(|| {
        at.error(
            "initial",
            ConfigErrorKind::BadInitial {
                problem: "no initial stage: name the stage new leads start in".into(),
            },
        )
    })?;
    let id = find(stages, name).ok_or_else(|| {
        at.error(
            "initial",
            ConfigErrorKind::UnknownStage {
                name: name.to_owned(),
            },
        )
    })?;
    if !stages.get(id.index()).is_some_and(|s| s.kind.is_on_path()) {
        return Err(at.error(
            "initial",
            ConfigErrorKind::BadInitial {
                problem: format!("initial stage {name:?} must be an open or sla stage"),
            },
        ));
    }
    Ok(id)
}

/// The `allowed` rules per stage (`None`: every forward move); several
/// rules for one stage add up.
fn compile_allowed(
    rules: &[AllowedMoves],
    stages: &[Stage],
    at: &At<'_>,
) -> Result<Vec<Option<Vec<StageId>>>, ConfigError> {
    let mut allowed: Vec<Option<Vec<StageId>>> = vec![None; stages.len()];
    for (i, rule) in rules.iter().enumerate() {
        let from = find(stages, &rule.from).ok_or_else(|| {
            at.error(
                &format!("allowed[{i}].from"),
                ConfigErrorKind::UnknownStage {
                    name: rule.from.clone(),
                },
            )
        })?;
        let to = rule
            .to
            .iter()
            .enumerate()
            .map(|(j, name)| {
                find(stages, name).ok_or_else(|| {
                    at.error(
                        &format!("allowed[{i}].to[{j}]"),
                        ConfigErrorKind::UnknownStage { name: name.clone() },
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        match allowed.get_mut(from.index()) {
            Some(Some(existing)) => existing.extend(to),
            Some(slot) => *slot = Some(to),
            None => {}
        }
    }
    Ok(allowed)
}
