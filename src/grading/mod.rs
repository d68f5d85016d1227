//! Fit grading: the scale, profiles, criteria and the priority matrix (semantics on `GradingConfig`).

use std::collections::HashSet;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::attr::{Attrs, Lists, Predicate, PredicateConfig};
use crate::error::{ConfigError, ConfigErrorKind, unique_id};
use crate::points::micros;

/// A grade on Pardot's scale: `F, D-, D, D+, C-, C, C+, B-, B, B+, A-, A, A+`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grade(u8);

const GRADE_NAMES: [&str; 13] = [
    "F", "D-", "D", "D+", "C-", "C", "C+", "B-", "B", "B+", "A-", "A", "A+",
];

/// A grade string that is not on the scale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid grade {text:?}: expected one of F, D-, D, D+, C-, C, C+, B-, B, B+, A-, A, A+")]
pub struct GradeParseError {
    text: String,
}

impl Grade {
    /// The lowest grade.
    pub const F: Grade = Grade(0);
    /// Where every lead starts.
    pub const D: Grade = Grade(2);
    /// B minus, the usual MQL bar.
    pub const B_MINUS: Grade = Grade(7);
    /// The highest grade.
    pub const A_PLUS: Grade = Grade(12);

    /// The grade `thirds` steps up (negative: down), clamped to `F ..= A+`.
    pub fn raised(self, thirds: i32) -> Grade {
        Grade(i32::from(self.0).saturating_add(thirds).clamp(0, 12) as u8)
    }

    /// The position on the scale, 0 (`F`) to 12 (`A+`).
    pub fn steps(self) -> u8 {
        self.0
    }

    /// The letter without sign: `'A'`, `'B'`, `'C'`, `'D'` or `'F'`.
    pub fn letter(self) -> char {
        self.to_string().chars().next().unwrap_or('F')
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(GRADE_NAMES.get(usize::from(self.0)).copied().unwrap_or("F"))
    }
}

impl std::str::FromStr for Grade {
    type Err = GradeParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GRADE_NAMES
            .iter()
            .position(|g| *g == s.trim())
            .map(|i| Grade(i as u8))
            .ok_or_else(|| GradeParseError { text: s.to_owned() })
    }
}

impl Serialize for Grade {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Grade {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A grading criterion as written in configs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionConfig {
    /// A unique id, shown in explanations.
    pub id: String,
    /// The test on a profile attribute.
    pub when: PredicateConfig,
    /// Thirds of a letter: 1, 2 or 3.
    pub weight: u8,
}

/// The priority matrix's engagement bands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixConfig {
    /// Three descending score thresholds for bands 1, 2 and 3 (exact
    /// decimals).
    #[serde(deserialize_with = "crate::exact::three")]
    pub bands: [Decimal; 3],
    /// The score group that measures engagement (default: the total score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// What measures engagement: the rule-based score (default) or the
    /// predictive model's probability (then `bands` are probabilities, from
    /// 0 to 1, and the engine needs a `predictive` model).
    #[serde(default, skip_serializing_if = "is_default")]
    pub engagement: Engagement,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// What the priority matrix measures engagement by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Engagement {
    /// The rule-based score (or the matrix's group).
    #[default]
    Score,
    /// The predicted probability of the engine's `predictive` model.
    Probability,
}

impl Default for MatrixConfig {
    fn default() -> Self {
        Self {
            bands: [Decimal::from(100), Decimal::from(50), Decimal::from(25)],
            group: None,
            engagement: Engagement::Score,
        }
    }
}

/// A grading profile as written in configs.
///
/// ```
/// let grading: leadflow::GradingConfig = serde_json::from_str(r#"{
///   "criteria": [
///     {"id": "size", "when": {"attr": "employees", "op": "range", "min": 100}, "weight": 2},
///     {"id": "industry", "when": {"attr": "industry", "op": "one_of", "values": ["software", "fintech"]}, "weight": 3}
///   ],
///   "matrix": {"bands": [100, 50, 25]}
/// }"#)?;
/// assert_eq!(grading.criteria.len(), 2);
///
/// // Grades run from F to A+ in thirds of a letter.
/// use leadflow::Grade;
/// let b_minus: Grade = "B-".parse()?;
/// assert!(b_minus > Grade::D);
/// assert_eq!(b_minus.raised(5), Grade::A_PLUS, "clamps at A+");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Semantics
///
/// A profile is a list of criteria on the lead's profile attributes, each
/// worth one to three thirds of a letter. Every lead starts at `D`; each
/// criterion whose attribute is known raises the grade by its weight on a
/// match and lowers it on a mismatch; an unknown attribute leaves it. The sum
/// is clamped to `F ..= A+` once, at the end, so the grade does not depend on
/// the order of the criteria. A lead is ungraded until at least one
/// criterion's attribute is known. Fit never decays: the grade changes only
/// when the attributes or the profile change.
///
/// The numeric fit score is the share of the profile's total weight that the
/// lead matches, from 0 to 100 (unknown attributes count as not matched).
///
/// The priority matrix crosses the grade's letter (A, B, C, D; F counts as D)
/// with an engagement band from the score: `bands` are three descending
/// thresholds, `[100, 50, 25]` by default, so a score of 100 or more is band
/// 1, 50 or more band 2, 25 or more band 3, anything else band 4. With
/// `"engagement": "probability"` the bands are probabilities (from 0 to 1)
/// compared with the engine's predictive model, exactly as a
/// qualification rule's `probability.min` is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradingConfig {
    /// The criteria (of the default profile, when `profiles` are given).
    #[serde(default)]
    pub criteria: Vec<CriterionConfig>,
    /// The priority matrix.
    #[serde(default)]
    pub matrix: MatrixConfig,
    /// Profiles per persona or product line (Pardot: one profile each):
    /// a lead is graded by the first whose `when` holds on its attributes,
    /// and by `criteria` when none does. A change of attributes that
    /// changes the profile regrades the lead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<PersonaConfig>,
}

/// One persona's grading profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonaConfig {
    /// A unique id, shown on grade cards.
    pub id: String,
    /// Which leads it grades: a predicate on a profile attribute.
    pub when: PredicateConfig,
    /// Its criteria.
    pub criteria: Vec<CriterionConfig>,
}

/// How one criterion judged a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The attribute matches: the grade rises by the weight.
    Matched,
    /// The attribute is known and does not match: the grade falls.
    Mismatched,
    /// The attribute is unknown: no effect.
    Unknown,
}

/// One line of a grade explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CriterionResult {
    /// The criterion's id.
    pub criterion: String,
    /// The attribute it reads.
    pub attr: String,
    /// Its weight in thirds.
    pub weight: u8,
    /// The verdict.
    pub verdict: Verdict,
}

/// A lead's grade and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GradeCard {
    /// The persona profile that graded the lead (`None`: the default
    /// criteria).
    pub profile: Option<String>,
    /// The grade, `None` while no criterion's attribute is known.
    pub grade: Option<Grade>,
    /// The numeric fit score, 0 to 100.
    pub fit: u8,
    /// Every criterion's verdict, in profile order.
    pub criteria: Vec<CriterionResult>,
}

impl fmt::Display for GradeCard {
    /// The grade and fit, then each criterion's verdict:
    ///
    /// ```text
    /// grade B+ (fit 72)
    ///   size (employees, weight 2): matched
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.grade {
            Some(g) => write!(f, "grade {g} (fit {})", self.fit)?,
            None => write!(f, "ungraded")?,
        }
        if let Some(p) = &self.profile {
            write!(f, ", profile {p}")?;
        }
        for c in &self.criteria {
            let verdict = match c.verdict {
                Verdict::Matched => "matched",
                Verdict::Mismatched => "mismatched",
                Verdict::Unknown => "unknown",
            };
            write!(
                f,
                "\n  {} ({}, weight {}): {verdict}",
                c.criterion, c.attr, c.weight
            )?;
        }
        Ok(())
    }
}

/// A cell of the fit × engagement matrix: `A1` (best) to `D4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Priority {
    /// `'A'` to `'D'` (an `F` grade counts as `'D'`).
    pub fit: char,
    /// 1 (most engaged) to 4.
    pub engagement: u8,
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.fit, self.engagement)
    }
}

#[derive(Debug, Clone)]
struct Criterion {
    id: String,
    test: Predicate,
    weight: u8,
}

/// A person's verdicts on criteria, by criterion id.
pub(crate) type Verdicts = std::collections::BTreeMap<String, Verdict>;

/// One compiled set of criteria.
#[derive(Debug, Clone)]
struct CriteriaSet {
    criteria: Vec<Criterion>,
    total_weight: u32,
}

/// A compiled persona profile.
#[derive(Debug, Clone)]
struct Persona {
    id: String,
    when: Predicate,
    set: CriteriaSet,
}

/// A compiled grading profile.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    base: CriteriaSet,
    personas: Vec<Persona>,
    /// In millionths.
    bands: [i128; 3],
    /// The bands as the doubles nearest their decimals, for engagement by
    /// probability (compared as a qualification rule's `min` is).
    probability_bands: [f64; 3],
    pub(crate) matrix_group: Option<String>,
    pub(crate) engagement: Engagement,
}

/// The matrix's bands in millionths: three descending thresholds (from 0
/// to 1 when engagement is the probability, which takes no group), and a
/// group the scoring config has.
fn compile_matrix(m: &MatrixConfig, groups: &[String]) -> Result<[i128; 3], ConfigError> {
    let out_of_range = |path: String, value: String, expected: &str| {
        ConfigError::new(
            path,
            ConfigErrorKind::OutOfRange {
                value,
                expected: expected.into(),
            },
        )
    };
    let mut b = [0i128; 3];
    for (i, (slot, d)) in b.iter_mut().zip(m.bands).enumerate() {
        *slot = micros(d).map_err(|problem| {
            out_of_range(
                format!("grading.matrix.bands[{i}]"),
                d.to_string(),
                &problem.expected("a threshold"),
            )
        })?;
    }
    if !(b[0] >= b[1] && b[1] >= b[2]) {
        let [x, y, z] = m.bands;
        return Err(out_of_range(
            "grading.matrix.bands".into(),
            format!("[{x}, {y}, {z}]"),
            "three descending thresholds",
        ));
    }
    if m.engagement == Engagement::Probability {
        let one = micros(Decimal::ONE).unwrap_or(1_000_000);
        if let Some((i, d)) = m
            .bands
            .iter()
            .enumerate()
            .find(|(i, _)| !(0..=one).contains(&b[*i]))
        {
            return Err(out_of_range(
                format!("grading.matrix.bands[{i}]"),
                d.to_string(),
                "a probability from 0 to 1 (engagement is the probability)",
            ));
        }
        if let Some(g) = &m.group {
            return Err(out_of_range(
                "grading.matrix.group".into(),
                g.clone(),
                "no group when engagement is the probability",
            ));
        }
    }
    if let Some(g) = &m.group
        && !groups.contains(g)
    {
        return Err(ConfigError::new(
            "grading.matrix.group",
            ConfigErrorKind::Unknown {
                what: "score group".into(),
                name: g.clone(),
            },
        ));
    }
    Ok(b)
}

/// Compiles one list of criteria found at `path`.
fn compile_criteria(
    list: &[CriterionConfig],
    lists: &Lists,
    path: &str,
) -> Result<CriteriaSet, ConfigError> {
    let mut criteria: Vec<Criterion> = Vec::with_capacity(list.len());
    let mut ids: HashSet<&str> = HashSet::with_capacity(list.len());
    for (i, cc) in list.iter().enumerate() {
        let path = format!("{path}[{i}]");
        unique_id(&mut ids, &cc.id, || format!("{path}.id"))?;
        if !(1..=3).contains(&cc.weight) {
            return Err(ConfigError::new(
                format!("{path}.weight"),
                ConfigErrorKind::OutOfRange {
                    value: cc.weight.to_string(),
                    expected: "a weight of 1, 2 or 3 thirds".into(),
                },
            ));
        }
        criteria.push(Criterion {
            id: cc.id.clone(),
            test: Predicate::compile(&cc.when, lists, &format!("{path}.when"))?,
            weight: cc.weight,
        });
    }
    let total_weight = criteria.iter().map(|c| u32::from(c.weight)).sum();
    Ok(CriteriaSet {
        criteria,
        total_weight,
    })
}

impl Profile {
    /// Compiles a profile found at `path` instead of `grading` (an account
    /// profile, say): errors name that path.
    pub(crate) fn compile_at(
        c: &GradingConfig,
        lists: &Lists,
        groups: &[String],
        path: &str,
    ) -> Result<Self, ConfigError> {
        Self::compile(c, lists, groups).map_err(|e| {
            let rest = e.path().strip_prefix("grading").unwrap_or(e.path());
            ConfigError::new(format!("{path}{rest}"), e.kind().clone())
        })
    }

    pub(crate) fn compile(
        c: &GradingConfig,
        lists: &Lists,
        groups: &[String],
    ) -> Result<Self, ConfigError> {
        let base = compile_criteria(&c.criteria, lists, "grading.criteria")?;
        let mut personas = Vec::with_capacity(c.profiles.len());
        let mut persona_ids: HashSet<&str> = HashSet::with_capacity(c.profiles.len());
        for (i, pc) in c.profiles.iter().enumerate() {
            let path = format!("grading.profiles[{i}]");
            unique_id(&mut persona_ids, &pc.id, || format!("{path}.id"))?;
            personas.push(Persona {
                id: pc.id.clone(),
                when: Predicate::compile(&pc.when, lists, &format!("{path}.when"))?,
                set: compile_criteria(&pc.criteria, lists, &format!("{path}.criteria"))?,
            });
        }
        let b = compile_matrix(&c.matrix, groups)?;
        Ok(Self {
            base,
            personas,
            bands: b,
            matrix_group: c.matrix.group.clone(),
            engagement: c.matrix.engagement,
            probability_bands: c
                .matrix
                .bands
                .map(|d| d.to_string().parse::<f64>().unwrap_or(f64::NAN)),
        })
    }

    /// The persona that grades these attributes (`None`: the default).
    fn persona(&self, attrs: &Attrs) -> Option<&Persona> {
        self.personas
            .iter()
            .find(|p| p.when.eval(attrs) == Some(true))
    }

    /// Whether any profile has a criterion with this id.
    pub(crate) fn has_criterion(&self, id: &str) -> bool {
        std::iter::once(&self.base)
            .chain(self.personas.iter().map(|p| &p.set))
            .any(|set| set.criteria.iter().any(|c| c.id == id))
    }

    fn set(&self, attrs: &Attrs) -> &CriteriaSet {
        self.persona(attrs).map_or(&self.base, |p| &p.set)
    }

    pub(crate) fn grade(&self, attrs: &Attrs) -> Option<Grade> {
        self.grade_with(attrs, &Verdicts::new())
    }

    /// The grade with a person's verdicts on criteria overriding what the
    /// attributes say.
    pub(crate) fn grade_with(&self, attrs: &Attrs, manual: &Verdicts) -> Option<Grade> {
        let mut known = false;
        let mut thirds = 0i32;
        for c in &self.set(attrs).criteria {
            let verdict = match manual.get(&c.id) {
                Some(Verdict::Matched) => Some(true),
                Some(Verdict::Mismatched) => Some(false),
                Some(Verdict::Unknown) => None,
                None => c.test.eval(attrs),
            };
            match verdict {
                Some(true) => {
                    known = true;
                    thirds += i32::from(c.weight);
                }
                Some(false) => {
                    known = true;
                    thirds -= i32::from(c.weight);
                }
                None => {}
            }
        }
        known.then(|| Grade::D.raised(thirds))
    }

    pub(crate) fn card(&self, attrs: &Attrs, manual: &Verdicts) -> GradeCard {
        let mut matched = 0u32;
        let set = self.set(attrs);
        let criteria = set
            .criteria
            .iter()
            .map(|c| {
                let said = match manual.get(&c.id) {
                    Some(Verdict::Matched) => Some(true),
                    Some(Verdict::Mismatched) => Some(false),
                    Some(Verdict::Unknown) => None,
                    None => c.test.eval(attrs),
                };
                let verdict = match said {
                    Some(true) => {
                        matched += u32::from(c.weight);
                        Verdict::Matched
                    }
                    Some(false) => Verdict::Mismatched,
                    None => Verdict::Unknown,
                };
                CriterionResult {
                    criterion: c.id.clone(),
                    attr: c.test.attr().to_owned(),
                    weight: c.weight,
                    verdict,
                }
            })
            .collect();
        let fit = (matched * 100).checked_div(set.total_weight).unwrap_or(0) as u8;
        GradeCard {
            profile: self.persona(attrs).map(|p| p.id.clone()),
            grade: self.grade_with(attrs, manual),
            fit,
            criteria,
        }
    }

    /// The matrix cell for a grade and an engagement score in millionths.
    pub(crate) fn priority(&self, grade: Grade, engagement: i128) -> Priority {
        let band = self.bands.iter().position(|&b| engagement >= b);
        Self::cell(grade, band)
    }

    /// The matrix cell for a grade and a probability, compared exactly
    /// with the bands (as the doubles nearest them).
    pub(crate) fn priority_by_probability(&self, grade: Grade, p: f64) -> Priority {
        let band = self.probability_bands.iter().position(|&b| p >= b);
        Self::cell(grade, band)
    }

    fn cell(grade: Grade, band: Option<usize>) -> Priority {
        let fit = match grade.letter() {
            'F' => 'D',
            l => l,
        };
        Priority {
            fit,
            engagement: band.map_or(4, |i| i as u8 + 1),
        }
    }
}
