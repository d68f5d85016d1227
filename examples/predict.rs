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
//! breaks), a header row, an empty cell is a missing value.

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
        match a.as_str() {
            "--train" => train = it.next(),
            "--test" => test = it.next(),
            "--target" => target = it.next(),
            "--positive" => positive = it.next(),
            "--model" => model = it.next().ok_or("--model needs nb or lr")?,
            "--categorical" => categorical.extend(list(it.next())),
            "--numeric" => numeric.extend(list(it.next())),
            "--drop" => drop.extend(list(it.next())),
            "--explain" => {
                explain = Some(
                    it.next()
                        .and_then(|n| n.parse().ok())
                        .ok_or("--explain needs a row number")?,
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
/// the end of input.
fn read_record(
    input: &mut impl BufRead,
    line: &mut String,
    fields: &mut Vec<String>,
) -> std::io::Result<bool> {
    line.clear();
    if input.read_line(line)? == 0 {
        return Ok(false);
    }
    // A quoted line break: the record goes on to the next line.
    while line.bytes().filter(|b| *b == b'"').count() % 2 == 1 {
        if input.read_line(line)? == 0 {
            break;
        }
    }
    let text = line.trim_end_matches(['\n', '\r']);
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
    fields.truncate(n);
    Ok(true)
}

/// A CSV file as a table (target column apart, as labels when present).
struct Loaded {
    table: Table,
    labels: Option<Vec<bool>>,
}

fn load(path: &str, args: &Args, kinds: &[(String, FeatureKind)]) -> Result<Loaded, String> {
    let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut input = BufReader::with_capacity(1 << 20, file);
    let (mut line, mut fields) = (String::new(), Vec::new());
    if !read_record(&mut input, &mut line, &mut fields).map_err(|e| format!("{path}: {e}"))? {
        return Err(format!("{path}: empty file, a header row is needed"));
    }
    let header = fields.clone();
    let target = header.iter().position(|h| *h == args.target);
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| Some(i) != target && !args.drop.contains(&header[i]))
        .collect();
    let mut rows = TableBuilder::new(keep.iter().map(|&i| header[i].clone()));
    for (name, kind) in kinds {
        rows = rows.kind(name, *kind);
    }
    let mut labels = target.map(|_| Vec::new());
    let mut number = 1;
    while read_record(&mut input, &mut line, &mut fields).map_err(|e| format!("{path}: {e}"))? {
        number += 1;
        if fields.len() == 1 && fields[0].is_empty() {
            continue;
        }
        if fields.len() != header.len() {
            return Err(format!(
                "{path}: line {number} has {} fields, the header has {}",
                fields.len(),
                header.len()
            ));
        }
        rows.push_text(keep.iter().map(|&i| Some(fields[i].as_str())))
            .map_err(|e| format!("{path}: line {number}: {e}"))?;
        if let (Some(t), Some(labels)) = (target, labels.as_mut()) {
            labels.push(fields[t].trim() == args.positive);
        }
    }
    let table = rows.build().map_err(|e| format!("{path}: {e}"))?;
    Ok(Loaded { table, labels })
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
    let train = load(&args.train, &args, &kinds)?;
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
    let test = load(&args.test, &args, &test_kinds)?;
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
            None => eprintln!("test ROC AUC undefined: the test rows hold one class"),
        }
    }
    if let Some(row) = args.explain {
        let record = record_of(row, &args, &test_kinds)?;
        eprintln!("row {row}: {}", model.explain(&record));
    }
    Ok(())
}

/// Row `row` of the test file as a record, read again from the file so the
/// explanation shows the values as written.
fn record_of(
    row: usize,
    args: &Args,
    kinds: &[(String, FeatureKind)],
) -> Result<leadflow::Attrs, String> {
    let file = File::open(&args.test).map_err(|e| format!("{}: {e}", args.test))?;
    let mut input = BufReader::new(file);
    let (mut line, mut fields) = (String::new(), Vec::new());
    read_record(&mut input, &mut line, &mut fields).map_err(|e| e.to_string())?;
    let header = fields.clone();
    for _ in 0..=row {
        if !read_record(&mut input, &mut line, &mut fields).map_err(|e| e.to_string())? {
            return Err(format!("--explain {row}: the test table has fewer rows"));
        }
    }
    let mut record = leadflow::Attrs::new();
    for (name, value) in header.iter().zip(&fields) {
        if value.trim().is_empty() || !kinds.iter().any(|(n, _)| n == name) {
            continue;
        }
        record.insert(name.clone(), value.as_str().into());
    }
    Ok(record)
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
