//! [`Table`]: columns of feature values, numeric or categorical, with
//! missing values; the plain input every model trains and predicts on.

use serde::{Deserialize, Serialize};

use super::PredictError;
use crate::attr::{AttrValue, Attrs, parse_number};

/// How a model reads a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FeatureKind {
    /// A number (`employees`, `visits`): naive Bayes bins it at training
    /// quantiles, logistic regression standardises it.
    Numeric,
    /// A label (`industry`, `country`): one count per level (naive Bayes),
    /// one indicator per level (logistic regression).
    Categorical,
}

/// Code of a missing categorical value.
pub(crate) const MISSING: u32 = u32::MAX;

/// One column's values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    /// Numbers; `NaN` is a missing value.
    Numeric(Vec<f64>),
    /// Level codes into `levels` (first-seen order); [`MISSING`] is a
    /// missing value.
    Categorical {
        levels: Vec<String>,
        codes: Vec<u32>,
    },
}

/// A named column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) values: Values,
}

impl Column {
    /// Row `i` as a number: a number, or a level that reads as one (in the
    /// common forms [`AttrValue`] predicates accept: `1,000`, `$5,000`,
    /// `500+`); anything else is missing.
    pub(crate) fn number(&self, i: usize) -> Option<f64> {
        match &self.values {
            Values::Numeric(v) => v.get(i).copied().filter(|x| !x.is_nan()),
            Values::Categorical { levels, codes } => {
                let code = *codes.get(i)?;
                levels.get(code as usize).and_then(|t| parse_number(t))
            }
        }
    }

    /// The name of level `code` of a categorical column.
    pub(crate) fn level_name(&self, code: usize) -> Option<&str> {
        match &self.values {
            Values::Categorical { levels, .. } => levels.get(code).map(String::as_str),
            Values::Numeric(_) => None,
        }
    }

    /// Row `i` as a level: a text, or a number written the shortest way
    /// that reads back (`250`, `2.5`).
    pub(crate) fn level(&self, i: usize) -> Option<std::borrow::Cow<'_, str>> {
        match &self.values {
            Values::Numeric(v) => v
                .get(i)
                .filter(|x| !x.is_nan())
                .map(|x| std::borrow::Cow::Owned(format_number(*x))),
            Values::Categorical { levels, codes } => {
                let code = *codes.get(i)?;
                levels
                    .get(code as usize)
                    .map(|t| std::borrow::Cow::Borrowed(t.as_str()))
            }
        }
    }
}

/// A number as a level: `250`, not `250.0`.
pub(crate) fn format_number(x: f64) -> String {
    // -0 and 0 are one level.
    AttrValue::Number(if x == 0.0 { 0.0 } else { x }).to_string()
}

/// Rows of feature values by named column, each column numeric or
/// categorical, any value possibly missing.
///
/// Build one with [`TableBuilder`] (rows of [`AttrValue`]s, kinds inferred
/// or given) or column by column with [`Table::with_numeric`] and
/// [`Table::with_categorical`]. Models match columns by name, so a table to
/// predict on may hold its columns in any order and extra columns.
///
/// ```
/// use leadflow::predict::Table;
/// let table = Table::new(3)
///     .with_numeric("employees", vec![Some(12.0), None, Some(900.0)])?
///     .with_categorical("industry", vec![Some("software"), Some("retail"), None])?;
/// assert_eq!(table.len(), 3);
/// assert_eq!(table.names().collect::<Vec<_>>(), ["employees", "industry"]);
/// # Ok::<(), leadflow::predict::PredictError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub(crate) columns: Vec<Column>,
    len: usize,
}

impl Table {
    /// A table of `len` rows and no columns yet.
    pub fn new(len: usize) -> Self {
        Self {
            columns: Vec::new(),
            len,
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The column names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// The kind of the column `name`, if there is one.
    pub fn kind(&self, name: &str) -> Option<FeatureKind> {
        self.column(name).map(|c| match c.values {
            Values::Numeric(_) => FeatureKind::Numeric,
            Values::Categorical { .. } => FeatureKind::Categorical,
        })
    }

    pub(crate) fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    fn push(&mut self, name: String, values: Values, got: usize) -> Result<(), PredictError> {
        if got != self.len {
            return Err(PredictError::ColumnLength {
                column: name,
                expected: self.len,
                got,
            });
        }
        if self.column(&name).is_some() {
            return Err(PredictError::DuplicateColumn { column: name });
        }
        self.columns.push(Column { name, values });
        Ok(())
    }

    /// Adds a numeric column (`None`, or a non-finite number, is missing).
    ///
    /// # Errors
    /// [`PredictError::ColumnLength`] when the column is not as long as the
    /// table; [`PredictError::DuplicateColumn`] when the name is taken.
    pub fn with_numeric(
        mut self,
        name: impl Into<String>,
        values: impl IntoIterator<Item = Option<f64>>,
    ) -> Result<Self, PredictError> {
        let v: Vec<f64> = values
            .into_iter()
            .map(|x| x.filter(|x| x.is_finite()).unwrap_or(f64::NAN))
            .collect();
        let got = v.len();
        self.push(name.into(), Values::Numeric(v), got)?;
        Ok(self)
    }

    /// Adds a categorical column (`None` or a blank text is missing, as
    /// everywhere else; levels are compared as written).
    ///
    /// # Errors
    /// As [`Table::with_numeric`].
    pub fn with_categorical<S: AsRef<str>>(
        mut self,
        name: impl Into<String>,
        values: impl IntoIterator<Item = Option<S>>,
    ) -> Result<Self, PredictError> {
        let mut levels = Levels::default();
        let codes: Vec<u32> = values
            .into_iter()
            .map(|v| match v {
                Some(s) if !s.as_ref().trim().is_empty() => levels.code(s.as_ref()),
                _ => MISSING,
            })
            .collect();
        let got = codes.len();
        self.push(
            name.into(),
            Values::Categorical {
                levels: levels.names,
                codes,
            },
            got,
        )?;
        Ok(self)
    }
}

/// The code of the `n`-th distinct value: codes stop one short of
/// [`MISSING`] (4 billion values do not fit in memory anyway).
fn code_for(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(MISSING - 1).min(MISSING - 1)
}

/// Level interning in first-seen order.
#[derive(Default)]
struct Levels {
    names: Vec<String>,
    index: crate::hash::IdMap<String, u32>,
}

impl Levels {
    fn code(&mut self, level: &str) -> u32 {
        if let Some(&c) = self.index.get(level) {
            return c;
        }
        let c = code_for(self.names.len());
        self.names.push(level.to_owned());
        self.index.insert(level.to_owned(), c);
        c
    }
}

/// Builds a [`Table`] row by row from attribute values or text cells,
/// inferring each column's kind: numeric when every value present is a
/// number or text in a common number form (`1,000`, `$5,000`, `500+`),
/// categorical otherwise; [`TableBuilder::kind`] overrides the inference.
/// An empty text is a missing value. Cells are interned per column as they
/// arrive (four bytes a cell plus each distinct value once), so a
/// million-row CSV builds in little memory.
///
/// ```
/// use leadflow::predict::{FeatureKind, TableBuilder};
/// use leadflow::AttrValue;
/// let mut rows = TableBuilder::new(["employees", "industry", "zip"]);
/// rows.push([Some("1,200".into()), Some("software".into()), Some(AttrValue::Number(10115.0))])?;
/// rows.push([Some("80".into()), None, Some(AttrValue::Number(75001.0))])?;
/// rows.push_text([Some("$90"), Some(""), Some("75001")])?;
/// let table = rows.kind("zip", FeatureKind::Categorical).build()?;
/// assert_eq!(table.kind("employees"), Some(FeatureKind::Numeric));
/// assert_eq!(table.kind("industry"), Some(FeatureKind::Categorical));
/// assert_eq!(table.kind("zip"), Some(FeatureKind::Categorical));
/// assert_eq!(table.len(), 3);
/// # Ok::<(), leadflow::predict::PredictError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct TableBuilder {
    names: Vec<String>,
    kinds: Vec<Option<FeatureKind>>,
    cells: Vec<Cells>,
    rows: usize,
}

/// One column's cells, interned.
#[derive(Debug, Clone, Default)]
struct Cells {
    distinct: Vec<AttrValue>,
    texts: crate::hash::IdMap<String, u32>,
    numbers: crate::hash::IdMap<u64, u32>,
    codes: Vec<u32>,
}

impl Cells {
    fn push_text(&mut self, text: Option<&str>) {
        let code = match text {
            None => MISSING,
            Some(t) if t.trim().is_empty() => MISSING,
            Some(t) => match self.texts.get(t) {
                Some(&c) => c,
                None => {
                    let c = self.next_code();
                    self.texts.insert(t.to_owned(), c);
                    self.distinct.push(AttrValue::Text(t.to_owned()));
                    c
                }
            },
        };
        self.codes.push(code);
    }

    fn push(&mut self, value: Option<AttrValue>) {
        match value {
            Some(AttrValue::Number(x)) => {
                // -0 and 0 are one value (and one level).
                let x = if x == 0.0 { 0.0 } else { x };
                let code = match self.numbers.get(&x.to_bits()) {
                    Some(&c) => c,
                    None => {
                        let c = self.next_code();
                        self.numbers.insert(x.to_bits(), c);
                        self.distinct.push(AttrValue::Number(x));
                        c
                    }
                };
                self.codes.push(code);
            }
            Some(AttrValue::Text(t)) => self.push_text(Some(&t)),
            None => self.codes.push(MISSING),
        }
    }

    fn next_code(&self) -> u32 {
        code_for(self.distinct.len())
    }

    /// The column: numeric when asked, or when every distinct value reads
    /// as a number.
    fn finish(self, kind: Option<FeatureKind>) -> Values {
        let numbers: Vec<Option<f64>> = self
            .distinct
            .iter()
            .map(|v| match v {
                AttrValue::Number(n) => Some(*n).filter(|n| n.is_finite()),
                AttrValue::Text(t) => parse_number(t),
            })
            .collect();
        let numeric = match kind {
            Some(k) => k == FeatureKind::Numeric,
            None => self
                .distinct
                .iter()
                .zip(&numbers)
                .all(|(v, n)| n.is_some() || matches!(v, AttrValue::Number(_))),
        };
        if numeric {
            return Values::Numeric(
                self.codes
                    .iter()
                    .map(|&c| {
                        numbers
                            .get(c as usize)
                            .copied()
                            .flatten()
                            .unwrap_or(f64::NAN)
                    })
                    .collect(),
            );
        }
        // A number and its text (250 and "250") are one level.
        let mut levels = Levels::default();
        let recode: Vec<u32> = self
            .distinct
            .iter()
            .map(|v| match v {
                AttrValue::Text(t) => levels.code(t),
                AttrValue::Number(n) if n.is_finite() => levels.code(&format_number(*n)),
                AttrValue::Number(_) => MISSING,
            })
            .collect();
        Values::Categorical {
            codes: self
                .codes
                .iter()
                .map(|&c| recode.get(c as usize).copied().unwrap_or(MISSING))
                .collect(),
            levels: levels.names,
        }
    }
}

impl TableBuilder {
    /// A builder for columns with these names.
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        Self {
            kinds: vec![None; names.len()],
            cells: vec![Cells::default(); names.len()],
            names,
            rows: 0,
        }
    }

    /// A builder for the features of `model`, each read as the model
    /// reads it: rows pushed to it predict without a kind mismatch.
    pub fn for_model(model: &super::Model) -> Self {
        let features = model.features();
        let mut builder = Self::new(features.iter().map(|(n, _)| *n));
        for (kind, (_, k)) in builder.kinds.iter_mut().zip(&features) {
            *kind = Some(*k);
        }
        builder
    }

    /// Sets the kind of the column `name` instead of inferring it (a name
    /// the builder does not have is ignored).
    #[must_use]
    pub fn kind(mut self, name: &str, kind: FeatureKind) -> Self {
        if let Some(i) = self.names.iter().position(|n| n == name)
            && let Some(k) = self.kinds.get_mut(i)
        {
            *k = Some(kind);
        }
        self
    }

    fn check_width(&self, got: usize) -> Result<(), PredictError> {
        if got == self.names.len() {
            Ok(())
        } else {
            Err(PredictError::RowLength {
                row: self.rows,
                expected: self.names.len(),
                got,
            })
        }
    }

    /// Adds a row, one value per column in order (`None`: missing).
    ///
    /// # Errors
    /// [`PredictError::RowLength`] when the row has another number of
    /// values than there are columns (the row is not added).
    pub fn push(
        &mut self,
        row: impl IntoIterator<Item = Option<AttrValue>>,
    ) -> Result<(), PredictError> {
        let row: Vec<Option<AttrValue>> = row.into_iter().collect();
        self.check_width(row.len())?;
        for (col, v) in self.cells.iter_mut().zip(row) {
            col.push(v);
        }
        self.rows += 1;
        Ok(())
    }

    /// Adds a row of text cells, as a CSV reader yields them (`None` or an
    /// empty text: missing).
    ///
    /// # Errors
    /// As [`TableBuilder::push`].
    pub fn push_text<'a>(
        &mut self,
        row: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Result<(), PredictError> {
        let mut cells = self.cells.iter_mut();
        let mut got = 0;
        for v in row {
            got += 1;
            if let Some(col) = cells.next() {
                col.push_text(v);
            }
        }
        if got != self.names.len() {
            // Undo the partial row.
            for col in &mut self.cells {
                col.codes.truncate(self.rows);
            }
            return self.check_width(got);
        }
        self.rows += 1;
        Ok(())
    }

    /// Adds a row from a record: each column's value is the record's
    /// attribute of that name (missing when absent).
    pub fn push_record(&mut self, record: &Attrs) {
        for (name, col) in self.names.iter().zip(&mut self.cells) {
            col.push(record.get(name).cloned());
        }
        self.rows += 1;
    }

    /// The number of rows added.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The table.
    ///
    /// # Errors
    /// [`PredictError::DuplicateColumn`] when two columns share a name.
    pub fn build(self) -> Result<Table, PredictError> {
        let mut table = Table::new(self.rows);
        for ((name, kind), cells) in self.names.into_iter().zip(self.kinds).zip(self.cells) {
            let values = cells.finish(kind);
            table.push(name, values, self.rows)?;
        }
        Ok(table)
    }
}
