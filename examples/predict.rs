//! Predictive scoring from CSV tables: train on one, score another.
//!
//! ```sh
//! cargo run --release --example gen_leads -- 100000 --seed 1 > train.csv
//! cargo run --release --example gen_leads -- 20000 --seed 2 > test.csv
//! cargo run --release --example predict -- --train train.csv --test test.csv \
//!     --target outcome --positive won --model lr --explain 0 > scores.csv
//! ```
//!
//! Options: `--model nb|lr` (naive Bayes or logistic regression),
//! `--categorical A,B` and `--numeric C,D` (override the inferred kinds:
//! a column is numeric when every training value reads as a number),
//! `--drop E` (leave columns out), `--explain N` (the factors of the N-th
//! test row, 0-based, to stderr). Prints CSV with a header `score` and one
//! probability of the positive class per test row, in order; the test ROC
//! AUC goes to stderr when the test table has the target column.
//!
//! CSV: RFC 4180 (commas, double quotes with `""` escapes, quoted line
//! breaks), a header row (a leading byte-order mark is dropped), an empty
//! cell is a missing value, a blank line is no row (in a one-column file,
//! write a missing value as `""`). An empty target cell in a table is an
//! error; errors name the physical line. `--numeric C` reads C's values as
//! numbers: text that is not a number in a common form is missing.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use leadflow::predict::{
    FeatureKind, LogisticOptions, Model, NaiveBayesOptions, Table, TableBuilder, roc_auc,
};

struct Args {
    train: String,
    test: String,
    target: String,
    positive: String,
    model: String,
    categorical: Vec<String>,
    numeric: Vec<String>,
    drop: Vec<String>,
    explain: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut train, mut test, mut target, mut positive) = (None, None, None, None);
    let mut model = "lr".to_owned();
    let (mut categorical, mut numeric, mut drop) = (Vec::new(), Vec::new(), Vec::new());
    let mut explain = None;
    let list = |v: Option<String>| -> Vec<String> {
        v.unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    while let Some(a) = it.next() {
        // Every option takes a value, and a value never starts with `--`
        // (`--train --test x.csv` is a missing value, not a file).
        let mut value = || match it.next() {
            Some(v) if !v.starts_with("--") => Ok(v),
            _ => Err(format!("{a} needs a value")),
        };
        match a.as_str() {
            "--train" => train = Some(value()?),
            "--test" => test = Some(value()?),
            "--target" => target = Some(value()?),
            "--positive" => positive = Some(value()?),
            "--model" => model = value()?,
            "--categorical" => categorical.extend(list(Some(value()?))),
            "--numeric" => numeric.extend(list(Some(value()?))),
            "--drop" => drop.extend(list(Some(value()?))),
            "--explain" => {
                explain = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--explain needs a row number".to_owned())?,
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if model != "nb" && model != "lr" {
        return Err(format!("--model must be nb or lr, not {model:?}"));
    }
    Ok(Args {
        train: train.ok_or("--train FILE is required")?,
        test: test.ok_or("--test FILE is required")?,
        target: target.ok_or("--target COLUMN is required")?,
        positive: positive.ok_or("--positive VALUE is required")?,
        model,
        categorical,
        numeric,
        drop,
        explain,
    })
}

/// Reads one CSV record into `fields` (reusing their buffers); `false` at
/// the end of input. A quoted field may hold line breaks: the record then
/// goes on over the next lines, all kept in `line`. A quote inside an
/// unquoted field is an ordinary character; a quoted field still open at
/// the end of the input is an error.
fn read_record(
    input: &mut impl BufRead,
    line: &mut String,
    fields: &mut Vec<String>,
) -> std::io::Result<bool> {
    line.clear();
    if input.read_line(line)? == 0 {
        return Ok(false);
    }
    let mut n = 0;
    let mut next = |fields: &mut Vec<String>| {
        if fields.len() <= n {
            fields.push(String::new());
        }
        fields[n].clear();
        n += 1;
        n - 1
    };
    let mut at = next(fields);
    let mut quoted = false;
    let mut start = 0;
    loop {
        let text = line[start..].trim_end_matches(['\n', '\r']);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    fields[at].push('"');
                }
                (true, '"') => quoted = false,
                (false, '"') if fields[at].is_empty() => quoted = true,
                (false, ',') => at = next(fields),
                (_, c) => fields[at].push(c),
            }
        }
        if !quoted {
            break;
        }
        // A line break inside quotes belongs to the field.
        fields[at].push('\n');
        start = line.len();
        if input.read_line(line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a quoted field is never closed (an unmatched \")",
            ));
        }
    }
    fields.truncate(n);
    Ok(true)
}

/// A CSV file as a table (target column apart, as labels when present),
/// and the row asked for by `--explain` as a record.
struct Loaded {
    table: Table,
    labels: Option<Vec<bool>>,
    captured: Option<leadflow::Attrs>,
}

fn load(
    path: &str,
    args: &Args,
    kinds: &[(String, FeatureKind)],
    capture: Option<usize>,
    training: bool,
) -> Result<Loaded, String> {
    let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut input = BufReader::with_capacity(1 << 20, file);
    let (mut line, mut fields) = (String::new(), Vec::new());
    if !read_record(&mut input, &mut line, &mut fields).map_err(|e| format!("{path}: {e}"))? {
        return Err(format!("{path}: empty file, a header row is needed"));
    }
    // Spreadsheet exports often start with a byte-order mark.
    if let Some(first) = fields.first_mut()
        && let Some(rest) = first.strip_prefix('\u{feff}')
    {
        *first = rest.to_owned();
    }
    let header = fields.clone();
    for (name, _) in kinds {
        if !header.contains(name) {
            return Err(format!("{path}: no column {name:?}"));
        }
        if *name == args.target {
            return Err(format!("{name:?} is the target, not a feature"));
        }
    }
    if training {
        // The training file names every column an option may drop.
        if let Some(name) = args.drop.iter().find(|d| !header.contains(d)) {
            return Err(format!("{path}: no column {name:?} to drop"));
        }
    }
    let target = header.iter().position(|h| *h == args.target);
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| Some(i) != target && !args.drop.contains(&header[i]))
        .collect();
    let mut rows = TableBuilder::new(keep.iter().map(|&i| header[i].clone()));
    for (name, kind) in kinds {
        rows = rows.kind(name, *kind);
    }
    let mut labels = target.map(|_| Vec::new());
    let mut captured = None;
    // The physical line the next record starts on.
    let mut next_line = 1 + line.matches('\n').count();
    while read_record(&mut input, &mut line, &mut fields)
        .map_err(|e| format!("{path}: line {next_line}: {e}"))?
    {
        let number = next_line;
        next_line += line.matches('\n').count();
        // A blank line is no row (a missing value in a one-column file is
        // written `""`).
        if line.trim_end_matches(['\n', '\r']).is_empty() {
            continue;
        }
        if fields.len() != header.len() {
            return Err(format!(
                "{path}: line {number} has {} fields, the header has {}",
                fields.len(),
                header.len()
            ));
        }
        if capture == Some(rows.len()) {
            let mut record = leadflow::Attrs::new();
            for &i in &keep {
                if !fields[i].trim().is_empty() {
                    record.insert(header[i].as_str().into(), fields[i].as_str().into());
                }
            }
            captured = Some(record);
        }
        rows.push_text(keep.iter().map(|&i| Some(fields[i].as_str())))
            .map_err(|e| format!("{path}: line {number}: {e}"))?;
        if let (Some(t), Some(labels)) = (target, labels.as_mut()) {
            let label = fields[t].trim();
            if label.is_empty() {
                return Err(format!(
                    "{path}: line {number}: the target {:?} is empty",
                    args.target
                ));
            }
            labels.push(label == args.positive);
        }
    }
    let table = rows.build().map_err(|e| format!("{path}: {e}"))?;
    Ok(Loaded {
        table,
        labels,
        captured,
    })
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let mut kinds: Vec<(String, FeatureKind)> = Vec::new();
    kinds.extend(
        args.categorical
            .iter()
            .map(|c| (c.clone(), FeatureKind::Categorical)),
    );
    kinds.extend(
        args.numeric
            .iter()
            .map(|c| (c.clone(), FeatureKind::Numeric)),
    );

    let started = Instant::now();
    let train = load(&args.train, &args, &kinds, None, true)?;
    let labels = train
        .labels
        .ok_or_else(|| format!("{}: no column {:?}", args.train, args.target))?;
    let read = started.elapsed();
    let started = Instant::now();
    let model = match args.model.as_str() {
        "nb" => Model::naive_bayes(&train.table, &labels, &NaiveBayesOptions::default()),
        _ => Model::logistic(&train.table, &labels, &LogisticOptions::default()),
    }
    .map_err(|e| format!("training: {e}"))?;
    let fit = started.elapsed();
    eprintln!(
        "trained {} on {} rows × {} features: read {:.2} s, fit {:.2} s",
        args.model,
        train.table.len(),
        model.features().len(),
        read.as_secs_f64(),
        fit.as_secs_f64()
    );
    drop(train.table);

    // The test table reads each column as the model does.
    let test_kinds: Vec<(String, FeatureKind)> = model
        .features()
        .into_iter()
        .map(|(n, k)| (n.to_owned(), k))
        .collect();
    let test = load(&args.test, &args, &test_kinds, args.explain, false)?;
    let scores = model
        .predict(&test.table)
        .map_err(|e| format!("{}: {e}", args.test))?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut write = || -> std::io::Result<()> {
        writeln!(out, "score")?;
        for p in &scores {
            writeln!(out, "{p}")?;
        }
        out.flush()
    };
    write().map_err(|e| format!("writing scores: {e}"))?;
    if let Some(labels) = &test.labels {
        match roc_auc(&scores, labels) {
            Some(auc) => eprintln!("test ROC AUC {auc:.6} ({} rows)", scores.len()),
            None if scores.is_empty() => eprintln!("test ROC AUC undefined: no test rows"),
            None => eprintln!("test ROC AUC undefined: the test rows hold one class"),
        }
    }
    if let Some(row) = args.explain {
        let record = test
            .captured
            .ok_or_else(|| format!("--explain {row}: the test table has {} rows", scores.len()))?;
        eprintln!("row {row}: {}", model.explain(&record));
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("predict: {e}");
            eprintln!(
                "usage: predict --train TRAIN.csv --test TEST.csv --target COLUMN --positive VALUE \
                 --model nb|lr [--categorical A,B] [--numeric C,D] [--drop E] [--explain N]"
            );
            ExitCode::from(2)
        }
    }
}
