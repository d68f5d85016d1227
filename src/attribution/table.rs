//! Path tables, ChannelAttribution's input format: reading them row by
//! row, with errors that name the line.

use std::io::BufRead;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// How to read a path table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathReadOptions {
    /// The separator between channels in the `path` column (default `>`).
    pub sep: String,
    /// The field delimiter; detected from the header among `,` `;` and tab
    /// when `None`.
    pub delimiter: Option<char>,
}

impl Default for PathReadOptions {
    fn default() -> Self {
        Self {
            sep: ">".into(),
            delimiter: None,
        }
    }
}

/// A path table that could not be read, naming the line (1-based; the
/// header is line 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct PathTableError {
    /// The line.
    pub line: usize,
    /// What was wrong.
    pub problem: String,
}

/// One row of a path table, borrowed from the reader's line buffer.
#[derive(Debug, Clone, Copy)]
pub struct PathRow<'a> {
    line: &'a str,
    spans: &'a [(usize, usize)],
    /// The `total_conversions` column.
    pub conversions: u64,
    /// The `total_null` column (0 without that column).
    pub nulls: u64,
    /// The `total_conversion_value` column.
    pub value: Option<Decimal>,
}

impl<'a> PathRow<'a> {
    /// The path's channels, names trimmed.
    pub fn channels(&self) -> impl Iterator<Item = &'a str> + '_ {
        let line = self.line;
        self.spans
            .iter()
            .map(move |&(a, b)| line.get(a..b).unwrap_or(""))
    }
}

/// A streaming reader of ChannelAttribution path tables: a header naming
/// the columns `path`, `total_conversions` and optionally
/// `total_conversion_value` and `total_null` (other columns are ignored),
/// then one row per path. Fields may be quoted with `"`.
///
/// ```
/// use leadflow::attribution::{PathReader, PathReadOptions};
/// let csv = "path;total_conversions;total_null\nemail > search;3;7\n";
/// let mut reader = PathReader::new(csv.as_bytes(), PathReadOptions::default())?;
/// let row = reader.next_row()?.unwrap();
/// assert_eq!(row.channels().collect::<Vec<_>>(), ["email", "search"]);
/// assert_eq!((row.conversions, row.nulls), (3, 7));
/// # Ok::<(), leadflow::attribution::PathTableError>(())
/// ```
#[derive(Debug)]
pub struct PathReader<R> {
    input: R,
    sep: String,
    delimiter: char,
    path: usize,
    conv: usize,
    value: Option<usize>,
    null: Option<usize>,
    pub(super) line_no: usize,
    buf: String,
    fields: Vec<(usize, usize)>,
    unquoted: String,
    spans: Vec<(usize, usize)>,
    /// The header's length in bytes, line end included.
    pub(super) header_bytes: u64,
    /// Bytes of the input's buffer the last row was read from in place,
    /// consumed when the next row is read.
    pending: usize,
}

impl<R> PathReader<R> {
    /// A reader of more rows of the same table from another input (a byte
    /// range of the same file, say): same columns, delimiter and
    /// separator, no header. Its lines are numbered from 2, as if they
    /// followed the header.
    pub(super) fn continue_with<S>(&self, input: S) -> PathReader<S> {
        PathReader {
            input,
            sep: self.sep.clone(),
            delimiter: self.delimiter,
            path: self.path,
            conv: self.conv,
            value: self.value,
            null: self.null,
            line_no: 1,
            buf: String::new(),
            fields: Vec::new(),
            unquoted: String::new(),
            spans: Vec::new(),
            header_bytes: 0,
            pending: 0,
        }
    }
}

impl<R: BufRead> PathReader<R> {
    /// Reads the header.
    ///
    /// # Errors
    /// A [`PathTableError`] on line 1 for an empty input, an unreadable
    /// header, an empty separator, or a missing `path` or
    /// `total_conversions` column.
    pub fn new(mut input: R, options: PathReadOptions) -> Result<Self, PathTableError> {
        let err = |problem: String| PathTableError { line: 1, problem };
        if options.sep.is_empty() {
            return Err(err("the path separator must not be empty".into()));
        }
        let mut header = String::new();
        let header_bytes = input
            .read_line(&mut header)
            .map_err(|e| err(format!("cannot read: {e}")))? as u64;
        let header = header
            .trim_end_matches(['\n', '\r'])
            .trim_start_matches('\u{feff}');
        if header.contains('\r') {
            return Err(err(
                "a carriage return inside the header: lines ending in CR alone are not supported (use LF or CRLF)"
                    .into(),
            ));
        }
        if header.trim().is_empty() {
            return Err(err(
                "empty input: expected a header with path and total_conversions".into(),
            ));
        }
        let delimiter = match options.delimiter {
            Some(d) => d,
            None => [',', ';', '\t']
                .into_iter()
                .max_by_key(|d| header.matches(*d).count())
                .filter(|d| header.contains(*d))
                .unwrap_or(','),
        };
        let mut fields = Vec::new();
        let mut scratch = String::new();
        if !split_fields(header, delimiter, &mut fields, &mut scratch).map_err(err)? {
            scratch = header.to_owned();
        }
        let names: Vec<String> = fields
            .iter()
            .map(|&(a, b)| scratch.get(a..b).unwrap_or("").trim().to_ascii_lowercase())
            .collect();
        let find = |n: &str| names.iter().position(|x| x == n);
        let path = find("path").ok_or_else(|| {
            err(format!(
                "missing column \"path\" (columns: {}; delimiter {delimiter:?})",
                names.join(", ")
            ))
        })?;
        let conv = find("total_conversions").ok_or_else(|| {
            err(format!(
                "missing column \"total_conversions\" (columns: {})",
                names.join(", ")
            ))
        })?;
        Ok(Self {
            input,
            sep: options.sep,
            delimiter,
            path,
            conv,
            value: find("total_conversion_value"),
            null: find("total_null"),
            line_no: 1,
            buf: String::new(),
            fields,
            unquoted: scratch,
            spans: Vec::new(),
            header_bytes,
            pending: 0,
        })
    }

    /// Whether the table has a `total_conversion_value` column.
    pub fn has_value(&self) -> bool {
        self.value.is_some()
    }

    /// Whether the table has a `total_null` column.
    pub fn has_null(&self) -> bool {
        self.null.is_some()
    }

    /// The next row; `None` at the end. Blank lines are skipped.
    ///
    /// # Errors
    /// A [`PathTableError`] naming the line: a missing field, an empty path
    /// or channel name, a count that is not a whole number ≥ 0, a value that
    /// is not a number ≥ 0, an unclosed quote, or a read error.
    pub fn next_row(&mut self) -> Result<Option<PathRow<'_>>, PathTableError> {
        if self.pending > 0 {
            self.input.consume(self.pending);
            self.pending = 0;
        }
        // The usual row is read in place from the input's buffer; a row
        // that crosses the buffer's end, or has quotes, is copied and split
        // as a whole.
        let text: &str = match self.next_in_place()? {
            Located::End => return Ok(None),
            Located::InPlace(len) => {
                let line_no = self.line_no;
                let avail = self.input.fill_buf().map_err(|e| PathTableError {
                    line: line_no + 1,
                    problem: format!("cannot read: {e}"),
                })?;
                std::str::from_utf8(avail.get(..len).unwrap_or(&[])).map_err(|_| {
                    PathTableError {
                        line: line_no,
                        problem: "cannot read: stream did not contain valid UTF-8".into(),
                    }
                })?
            }
            Located::General => match self.next_copied()? {
                None => return Ok(None),
                Some(true) => self.unquoted.as_str(),
                Some(false) => self.buf.trim_end_matches(['\n', '\r']),
            },
        };
        let line = self.line_no;
        let err = |problem: String| PathTableError { line, problem };
        let columns = (self.conv, self.null, self.value);
        let (conversions, nulls, value) = row_numbers(text, &self.fields, columns).map_err(err)?;
        let path = self
            .fields
            .get(self.path)
            .copied()
            .ok_or_else(|| err("missing field \"path\"".into()))?;
        split_path(text, path, &self.sep, &mut self.spans).map_err(err)?;
        Ok(Some(PathRow {
            line: text,
            spans: &self.spans,
            conversions,
            nulls,
            value,
        }))
    }

    /// Finds the next non-blank line in the input's buffer, with its line
    /// end and the fields' delimiters found by a vectorized byte search.
    /// `InPlace(len)`: the line (without its line end) is the buffer's first
    /// `len` bytes and `fields` holds its fields; `General`: it needs the
    /// copying path (it crosses the buffer's end, has quotes or a stray
    /// CR, or the delimiter is not ASCII).
    fn next_in_place(&mut self) -> Result<Located, PathTableError> {
        let delimiter = u8::try_from(self.delimiter).ok().filter(u8::is_ascii);
        loop {
            let line_no = self.line_no + 1;
            let avail = self.input.fill_buf().map_err(|e| PathTableError {
                line: line_no,
                problem: format!("cannot read: {e}"),
            })?;
            if avail.is_empty() {
                return Ok(Located::End);
            }
            let (Some(end), Some(d)) = (memchr::memchr(b'\n', avail), delimiter) else {
                return Ok(Located::General);
            };
            let line = avail.get(..end).unwrap_or(&[]);
            self.fields.clear();
            let mut start = 0;
            for i in memchr::memchr3_iter(d, b'"', b'\r', line) {
                match line.get(i) {
                    Some(&b) if b == d => {
                        self.fields.push((start, i));
                        start = i + 1;
                    }
                    // A CR only ends the line.
                    Some(b'\r') if i + 1 == end => {}
                    // Quotes, and a CR inside the line: the general path.
                    _ => return Ok(Located::General),
                }
            }
            self.line_no += 1;
            let trimmed = line.strip_suffix(b"\r").unwrap_or(line);
            if trimmed.iter().all(u8::is_ascii_whitespace) {
                self.input.consume(end + 1);
                continue;
            }
            self.fields.push((start.min(trimmed.len()), trimmed.len()));
            self.pending = end + 1;
            return Ok(Located::InPlace(trimmed.len()));
        }
    }

    /// Reads the next non-blank line into `buf` and splits it into
    /// `fields`; whether the fields point into `unquoted` (`Some(true)`) or
    /// into the line; `None` at the end.
    fn next_copied(&mut self) -> Result<Option<bool>, PathTableError> {
        loop {
            self.buf.clear();
            let n = match self.input.read_line(&mut self.buf) {
                Ok(n) => n,
                Err(e) => {
                    // The line was read (invalid UTF-8, say): it counts, so
                    // later rows keep their numbers.
                    self.line_no += 1;
                    return Err(PathTableError {
                        line: self.line_no,
                        problem: format!("cannot read: {e}"),
                    });
                }
            };
            if n == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            // Blank means ASCII whitespace only, as on the in-place path:
            // the same line reads the same however buffered.
            if !self.buf.trim_ascii().is_empty() {
                break;
            }
        }
        let line = self.buf.trim_end_matches(['\n', '\r']);
        let err = |problem: String| PathTableError {
            line: self.line_no,
            problem,
        };
        if line.contains('\r') {
            return Err(err("a carriage return inside the row: lines ending in CR alone are not supported (use LF or CRLF)".into()));
        }
        split_fields(line, self.delimiter, &mut self.fields, &mut self.unquoted)
            .map(Some)
            .map_err(err)
    }
}

/// Where the next row's line is.
enum Located {
    /// The input is over.
    End,
    /// In the input's buffer, this many bytes long (line end excluded).
    InPlace(usize),
    /// To be read by the copying path.
    General,
}

/// A row's counts and value, from its fields.
fn row_numbers(
    text: &str,
    fields: &[(usize, usize)],
    (conv, null, value): (usize, Option<usize>, Option<usize>),
) -> Result<(u64, u64, Option<Decimal>), String> {
    let field = |i: usize, name: &str| -> Result<&str, String> {
        fields
            .get(i)
            .and_then(|&(a, b)| text.get(a..b))
            .map(str::trim_ascii)
            .ok_or_else(|| format!("missing field {name:?}"))
    };
    let conversions = count(field(conv, "total_conversions")?, "total_conversions")?;
    let nulls = match null {
        Some(i) => count(field(i, "total_null")?, "total_null")?,
        None => 0,
    };
    let value = match value {
        Some(i) => Some(amount(field(i, "total_conversion_value")?)?),
        None => None,
    };
    Ok((conversions, nulls, value))
}

/// Splits the path field `(pa, pb)` of `text` on `sep` into trimmed
/// channel names, as ranges of `text` in `spans`.
fn split_path(
    text: &str,
    (pa, pb): (usize, usize),
    sep: &str,
    spans: &mut Vec<(usize, usize)>,
) -> Result<(), String> {
    let path = text.get(pa..pb).unwrap_or("");
    if path.trim_ascii().is_empty() {
        return Err("empty path".into());
    }
    spans.clear();
    let bytes = path.as_bytes();
    let mut start = 0;
    loop {
        let end = match sep.as_bytes() {
            // Channel names are short: a plain scan beats a library call.
            [one] => bytes
                .get(start..)
                .and_then(|rest| rest.iter().position(|b| b == one))
                .map(|i| start + i),
            _ => path
                .get(start..)
                .and_then(|rest| rest.find(sep))
                .map(|i| start + i),
        };
        let piece_end = end.unwrap_or(bytes.len());
        let (a, b) = trim_ascii(bytes, start, piece_end);
        if a == b {
            return Err(format!("empty channel name in path {:?}", path.trim()));
        }
        spans.push((pa + a, pa + b));
        match end {
            Some(e) => start = e + sep.len(),
            None => return Ok(()),
        }
    }
}

/// The range `a..b` of `bytes` without ASCII whitespace at either end.
fn trim_ascii(bytes: &[u8], mut a: usize, mut b: usize) -> (usize, usize) {
    while a < b && bytes.get(a).is_some_and(u8::is_ascii_whitespace) {
        a += 1;
    }
    while b > a && bytes.get(b - 1).is_some_and(u8::is_ascii_whitespace) {
        b -= 1;
    }
    (a, b)
}

/// Splits one CSV line into fields: ranges into the line itself when it
/// has no quotes (returns `false`: nothing copied, the common case), or
/// into `out`, which then receives the unquoted text (returns `true`).
fn split_fields(
    line: &str,
    delimiter: char,
    fields: &mut Vec<(usize, usize)>,
    out: &mut String,
) -> Result<bool, String> {
    fields.clear();
    out.clear();
    if let Ok(d) = u8::try_from(delimiter)
        && d.is_ascii()
    {
        // One pass over the bytes (an ASCII byte never occurs inside a
        // multi-byte character): fields end at delimiters; a quote sends
        // the line to the quoted parser below.
        let mut start = 0;
        let mut quoted = false;
        for (i, &b) in line.as_bytes().iter().enumerate() {
            if b == d {
                fields.push((start, i));
                start = i + 1;
            } else if b == b'"' {
                quoted = true;
                break;
            }
        }
        if !quoted {
            fields.push((start, line.len()));
            return Ok(false);
        }
        fields.clear();
    } else if !line.contains('"') {
        let mut start = 0;
        for piece in line.split(delimiter) {
            fields.push((start, start + piece.len()));
            start += piece.len() + delimiter.len_utf8();
        }
        return Ok(false);
    }
    let mut chars = line.chars().peekable();
    let mut start = 0;
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    out.push('"');
                } else {
                    quoted = false;
                }
            } else {
                out.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == delimiter {
            fields.push((start, out.len()));
            start = out.len();
            at_start = true;
        } else {
            if !c.is_whitespace() {
                at_start = false;
            }
            out.push(c);
        }
    }
    if quoted {
        return Err(
            "unclosed quote (a quoted field that spans lines is not supported: write each row on one line)"
                .into(),
        );
    }
    fields.push((start, out.len()));
    Ok(true)
}

/// Whether `text` is written as a number (sign, digits, one dot, an
/// exponent): if `Decimal` cannot hold it, it is out of range, not "not a
/// number".
fn looks_numeric(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match t.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['-', '+']).unwrap_or(e))),
        None => (t, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => {
            (digits(a) || a.is_empty())
                && (digits(b) || b.is_empty())
                && !(a.is_empty() && b.is_empty())
        }
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(digits)
}

/// A decimal read from a path table: exact, or a message that says why not.
fn decimal(text: &str, column: &str) -> Result<Decimal, String> {
    Decimal::from_str_exact(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|_| {
            if looks_numeric(text) {
                format!(
                    "{column}: {text} is out of range (at most 28 significant digits, below 7.9e28)"
                )
            } else {
                format!("{column}: {text:?} is not a number")
            }
        })
}

fn count(text: &str, column: &str) -> Result<u64, String> {
    if !text.is_empty() && text.len() < 19 && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(text.bytes().fold(0u64, |n, b| n * 10 + u64::from(b - b'0')));
    }
    let d = decimal(text, column)?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(format!("{column}: {text} is negative"));
    }
    if d.fract() != Decimal::ZERO {
        return Err(format!("{column}: {text} is not a whole number"));
    }
    d.to_u64()
        .ok_or_else(|| format!("{column}: {text} is too large"))
}

fn amount(text: &str) -> Result<Decimal, String> {
    // The usual form, `1234.56`: digits read directly (at most 18 of them,
    // so the mantissa fits an i64 and the result is exact).
    if let Some((int, frac)) = text.split_once('.').or(Some((text, "")))
        && !int.is_empty()
        && int.len() + frac.len() <= 18
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        let mantissa = int
            .bytes()
            .chain(frac.bytes())
            .fold(0i64, |n, b| n * 10 + i64::from(b - b'0'));
        return Ok(Decimal::new(mantissa, frac.len() as u32));
    }
    let d = decimal(text, "total_conversion_value")?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(format!("total_conversion_value: {text} is negative"));
    }
    Ok(d)
}
