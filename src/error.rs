//! Error types. Build-time errors ([`ConfigError`]) say which config item was
//! wrong; run-time errors ([`EventError`]) say which event was rejected and
//! why.

use serde::{Deserialize, Serialize};

use crate::types::{EventId, LeadId};

/// A config that could not be compiled, with the path of the offending item
/// (`stages[2].within`, `scoring.rules[3].when.attrs[0]`). Serializes
/// like [`EventError`], so a host can store or send a refused config's
/// reason as data.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[error("{path}: {kind}")]
pub struct ConfigError {
    path: String,
    kind: ConfigErrorKind,
}

impl ConfigError {
    pub(crate) fn new(path: impl Into<String>, kind: ConfigErrorKind) -> Self {
        Self {
            path: path.into(),
            kind,
        }
    }

    /// Where in the config the problem is, e.g. `stages[2].within`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong there.
    pub fn kind(&self) -> &ConfigErrorKind {
        &self.kind
    }
}

/// Checks an item's id: not empty, and not seen before in its list (then
/// records it). `path` is the id's path, for the error.
pub(crate) fn unique_id<'a>(
    seen: &mut std::collections::HashSet<&'a str>,
    id: &'a str,
    path: impl FnOnce() -> String,
) -> Result<(), ConfigError> {
    if id.trim().is_empty() {
        return Err(ConfigError::new(path(), ConfigErrorKind::EmptyName));
    }
    if !seen.insert(id) {
        return Err(ConfigError::new(
            path(),
            ConfigErrorKind::DuplicateId { id: id.to_owned() },
        ));
    }
    Ok(())
}

/// What is wrong with a config item.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The text is not valid JSON for the config's shape (includes unknown
    /// fields, which every config type denies).
    #[error("{message}")]
    Syntax {
        /// The parser's message, with line and column.
        message: String,
    },
    /// The lifecycle has no stages.
    #[error("a lifecycle needs at least one stage")]
    NoStages,
    /// Both a preset and explicit stages were given.
    #[error("give either a preset or stages, not both")]
    PresetAndStages,
    /// More stages than the crate supports.
    #[error("at most {max} stages are supported")]
    TooManyStages {
        /// The limit.
        max: usize,
    },
    /// A name is empty.
    #[error("name must not be empty")]
    EmptyName,
    /// Two stages share a name.
    #[error("duplicate stage name {name:?}")]
    DuplicateStageName {
        /// The repeated name.
        name: String,
    },
    /// Two stages share a rank.
    #[error("rank {rank} is already used by stage {other:?}")]
    DuplicateRank {
        /// The repeated rank.
        rank: i32,
        /// The stage that has it first.
        other: String,
    },
    /// A stage name that the lifecycle does not define.
    #[error("unknown stage {name:?}")]
    UnknownStage {
        /// The name given.
        name: String,
    },
    /// An SLA stage without its duration.
    #[error("an sla stage needs a duration (`within`)")]
    SlaWithoutDuration,
    /// A duration on a stage that is not an SLA stage.
    #[error("only sla stages take `within` and `due_soon`")]
    DurationOnNonSla,
    /// A duration that must be positive is zero.
    #[error("duration must be greater than zero")]
    ZeroDuration,
    /// The warning window is not shorter than the SLA.
    #[error("due_soon ({due_soon}) must be shorter than within ({within})")]
    DueSoonTooLong {
        /// The warning window.
        due_soon: crate::types::Span,
        /// The SLA.
        within: crate::types::Span,
    },
    /// No initial stage was named, or the one named cannot start a lifecycle.
    #[error("{problem}")]
    BadInitial {
        /// What is wrong.
        problem: String,
    },
    /// More than one stage has the same special kind or role.
    #[error("only one stage may be {what}; {other:?} already is")]
    DuplicateRole {
        /// The kind or milestone role.
        what: String,
        /// The stage that has it first.
        other: String,
    },
    /// Two items share an id.
    #[error("duplicate id {id:?}")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// A value outside the range it must be in.
    #[error("{value} is out of range: {expected}")]
    OutOfRange {
        /// The value given.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// A `range` predicate whose lower bound is above its upper bound (or
    /// a bound is NaN).
    #[error("min ({min}) is greater than max ({max})")]
    MinAboveMax {
        /// The lower bound.
        min: f64,
        /// The upper bound.
        max: f64,
    },
    /// A score group whose lower cap is above its upper cap.
    #[error("the lower cap ({min}) is above the upper cap ({max})")]
    CapsInverted {
        /// The lower cap.
        min: rust_decimal::Decimal,
        /// The upper cap.
        max: rust_decimal::Decimal,
    },
    /// A validity window that ends before it starts.
    #[error("valid_from ({from}) is after valid_until ({until})")]
    WindowInverted {
        /// Its start.
        from: crate::types::Timestamp,
        /// Its end.
        until: crate::types::Timestamp,
    },
    /// A name that is referenced but defined nowhere.
    #[error("unknown {what} {name:?}")]
    Unknown {
        /// What kind of thing (group, grade, rule).
        what: String,
        /// The name given.
        name: String,
    },
    /// A stage named as a target that no move of that kind can enter.
    #[error("stage {stage:?} can never be entered this way: {why}")]
    Unreachable {
        /// The stage named.
        stage: String,
        /// Why it cannot be entered.
        why: String,
    },
    /// A predicate operand its operator does not read.
    #[error("operator {op} does not read `{field}`")]
    NotRead {
        /// The operand given.
        field: String,
        /// The operator.
        op: String,
    },
    /// Something that must not be empty is.
    #[error("{what} must not be empty")]
    Empty {
        /// What is empty.
        what: String,
    },
    /// An item reads something the config does not provide.
    #[error("{what} needs {needs}, which the config does not have")]
    Needs {
        /// What reads it.
        what: String,
        /// What it needs (`a predictive model`, `feature "employees"`).
        needs: String,
    },
}

/// An event the lead's state machine rejected, naming the event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error, Serialize, Deserialize)]
#[error("event \"{event}\": {kind}")]
pub struct EventError {
    /// The rejected event's id.
    pub event: EventId,
    /// Why it was rejected.
    pub kind: EventErrorKind,
}

/// Why the state machine rejected an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventErrorKind {
    /// The event names a stage the lifecycle does not define.
    #[error("unknown stage {name:?}")]
    UnknownStage {
        /// The name given.
        name: String,
    },
    /// The lead is already in the target stage.
    #[error("lead is already in stage {stage:?}")]
    AlreadyInStage {
        /// The stage.
        stage: String,
    },
    /// An ordinary move that is not forward by rank.
    #[error(
        "cannot move from {from:?} to {to:?}: ordinary moves go forward by rank; moving down takes recycle or regress with a reason"
    )]
    NotForward {
        /// The current stage.
        from: String,
        /// The requested stage.
        to: String,
    },
    /// A move out of a won, lost or disqualified stage other than recycle.
    #[error("cannot leave terminal stage {from:?} except by recycle")]
    LeavingTerminal {
        /// The terminal stage.
        from: String,
    },
    /// The lifecycle's transition rules do not allow the move.
    #[error("the lifecycle does not allow moving from {from:?} to {to:?}")]
    NotAllowed {
        /// The current stage.
        from: String,
        /// The requested stage.
        to: String,
    },
    /// A regress whose target is not below the current stage.
    #[error("regress must move down: {to:?} is not ranked below {from:?}")]
    NotBackward {
        /// The current stage.
        from: String,
        /// The requested stage.
        to: String,
    },
    /// A regress or ordinary move to a stage that only a recycle can enter,
    /// or a regress to a terminal stage.
    #[error("stage {to:?} cannot be entered this way: {hint}")]
    WrongCommand {
        /// The requested stage.
        to: String,
        /// Which command enters it.
        hint: String,
    },
    /// A recycle in a lifecycle without a recycled stage.
    #[error("the lifecycle has no stage of kind recycled")]
    NoRecycleStage,
    /// Entering a lost or disqualified stage without a reason.
    #[error("moving to {to:?} requires a reason")]
    ReasonRequired {
        /// The requested stage.
        to: String,
    },
    /// A late event that would make an event already in the log invalid at
    /// its place (strict [`Engine::apply`](crate::Engine::apply) only).
    #[error("arriving late, it would invalidate later event \"{later}\": {problem}")]
    ConflictsWithLater {
        /// The later event that would become invalid.
        later: EventId,
        /// What would be wrong with it.
        problem: Box<EventErrorKind>,
    },
    /// An event id, lead id or visitor id is empty or only whitespace.
    #[error("the {what} is empty")]
    EmptyId {
        /// Which id.
        what: String,
    },
    /// The event names another lead than the one it was given to.
    #[error("the event belongs to lead \"{named}\", not to lead \"{lead}\"")]
    WrongLead {
        /// The lead the event was given to.
        lead: LeadId,
        /// The lead the event names.
        named: LeadId,
    },
    /// An event with this id and different content is in the log (strict
    /// [`Engine::apply`](crate::Engine::apply) only; leniently, the copy
    /// with the smallest canonical encoding is kept).
    #[error("an event with this id and different content is already in the log")]
    ConflictingDuplicate,
    /// A late event that would retract a transition already recorded
    /// (strict [`Engine::apply`](crate::Engine::apply) only).
    #[error(
        "arriving late, it would retract the move to {stage:?} recorded for later event \"{later}\""
    )]
    RewritesHistory {
        /// The event whose transition would be retracted.
        later: EventId,
        /// The stage that transition entered.
        stage: String,
    },
    /// A deal amount below zero.
    #[error("deal amount {amount} is negative")]
    NegativeAmount {
        /// The amount given.
        amount: String,
    },
    /// A number beyond the crate's bound for it.
    #[error("{what} {value} is beyond its bound ({max})")]
    OutOfRange {
        /// Which number.
        what: String,
        /// The value given.
        value: String,
        /// The bound (`at most 6 decimal places`, `at most 10^12 in
        /// magnitude` …).
        max: String,
    },
    /// A late event that would change the value of a recorded win (a
    /// `deal` before it; strict [`Engine::apply`](crate::Engine::apply)
    /// only).
    #[error("arriving late, it would change the win recorded for event \"{win}\" (worth {value})")]
    ChangesWin {
        /// The event of the win.
        win: EventId,
        /// The value recorded for it.
        value: String,
    },
    /// A verdict names a criterion no grading profile has.
    #[error("unknown grading criterion {criterion:?}")]
    UnknownCriterion {
        /// The criterion given.
        criterion: String,
    },
    /// A score adjustment names a group the scoring model does not define.
    #[error("unknown score group {group:?}")]
    UnknownGroup {
        /// The group given.
        group: String,
    },
}
