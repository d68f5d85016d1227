//! Attribute a ChannelAttribution path table (or a touch-level table) in
//! SQL on DataFusion, printing exactly what the core's `attribute` example
//! prints.
//!
//! ```sh
//! cargo run --release --example attribute_sql -- --partitions N [--model M]... [--order K] \
//!     [--sep C] [--delimiter C] [--solver-work STEPS] FILE
//! cargo run --release --example attribute_sql -- --partitions N [--model M]... [--order K] \
//!     --touches FILE.parquet|FILE.csv
//! ```
//!
//! FILE is read by the core's path-table reader (same columns, options and
//! errors as `attribute`), loaded into `N` partitions, and attributed by
//! `attribute_paths`; the output is `attribute`'s CSV
//! (`model,channel_name,conversions,value`), byte for byte.
//!
//! With `--touches`, FILE is a touch-level table, one row per touch,
//! read by DataFusion (Parquet, or CSV with a header):
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `journey` | any | the journey (lead, visitor) the touch belongs to |
//! | `ts` | timestamp or integer | when: a journey's path is its touches by `(ts, channel)` |
//! | `channel` | string | the channel |
//! | `conversions` | integer | conversions on this row (a journey's sum; 0 means one null path) |
//! | `value` | `DECIMAL` (CSV: at most `--value-scale` places, default 2; a finer value is an error naming the line) | conversion value (summed per journey); optional in Parquet |
//!
//! Channels are listed by first appearance in time (a journey's first
//! touch, then position, then name). The SQL runs is printed to stderr.

use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, AsArray, Decimal128Array, Float64Array, StringArray, StructArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};
use leadflow::attribution::{
    ChannelCredit, Limits, PathModel, PathReadOptions, PathReader, PathReport,
};
use leadflow_datafusion::PathsConfig;
use leadflow_datafusion::money::from_decimal128;
use leadflow_datafusion::tables::read_path_table;

const USAGE: &str = "usage: attribute_sql --partitions N [--model M]... [--order K] [--sep C] [--delimiter C] [--solver-work STEPS] [--value-scale S] [--touches] FILE";

struct Args {
    partitions: usize,
    config: PathsConfig,
    options: PathReadOptions,
    touches: bool,
    value_scale: i8,
    file: String,
}

fn parse_args() -> Result<Args, String> {
    let mut models = Vec::new();
    let mut order = 1usize;
    let mut partitions = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut options = PathReadOptions::default();
    let mut limits = Limits::default();
    let (mut touches, mut value_scale, mut file) = (false, 2i8, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value\n{USAGE}"));
        let number = |name: &str, v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{name} {v:?}: expected a whole number"))
        };
        match arg.as_str() {
            "--model" => models.push(
                value("--model")?
                    .parse::<PathModel>()
                    .map_err(|e| e.to_string())?,
            ),
            "--order" => order = number("--order", value("--order")?)? as usize,
            "--partitions" => {
                partitions = number("--partitions", value("--partitions")?)? as usize;
                if partitions == 0 {
                    return Err("--partitions must be at least 1".into());
                }
            }
            "--solver-work" => {
                limits.solver_work = number("--solver-work", value("--solver-work")?)?
            }
            "--value-scale" => {
                value_scale = i8::try_from(number("--value-scale", value("--value-scale")?)?)
                    .ok()
                    .filter(|s| *s <= 28)
                    .ok_or("--value-scale must be at most 28")?;
            }
            "--sep" => options.sep = value("--sep")?,
            "--delimiter" => {
                let v = value("--delimiter")?;
                let mut chars = v.chars();
                options.delimiter = Some(match (v.as_str(), chars.next(), chars.next()) {
                    ("tab" | "\\t", _, _) => '\t',
                    (_, Some(c), None) => c,
                    _ => return Err(format!("--delimiter {v:?}: expected one character")),
                });
            }
            "--touches" => touches = true,
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n{USAGE}")),
            _ if file.is_some() => return Err(format!("more than one FILE\n{USAGE}")),
            _ => file = Some(arg),
        }
    }
    if models.is_empty() {
        models.push(PathModel::Markov);
    }
    let config = serde_json::from_value(serde_json::json!({
        "models": models, "order": order, "limits": limits,
    }))
    .map_err(|e| e.to_string())?;
    Ok(Args {
        partitions,
        config,
        options,
        touches,
        value_scale,
        file: file.ok_or(format!("missing FILE\n{USAGE}"))?,
    })
}

/// A session of `n` partitions with the adapter's functions.
fn session(n: usize) -> SessionContext {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(n));
    leadflow_datafusion::register_all(&ctx);
    ctx
}

/// Loads the path table into `paths` (dealt over the partitions); the
/// query, and the scale the core prints value credits at.
fn load_paths(ctx: &SessionContext, args: &mut Args) -> Result<(String, Option<i8>), String> {
    let file = std::fs::File::open(&args.file).map_err(|e| format!("{}: {e}", args.file))?;
    let reader = PathReader::new(
        BufReader::with_capacity(1 << 16, file),
        args.options.clone(),
    )
    .map_err(|e| format!("{}: {e}", args.file))?;
    let table = read_path_table(reader, 8192).map_err(|e| format!("{}: {e}", args.file))?;
    let mut parts = vec![Vec::new(); args.partitions];
    for (i, b) in table.batches.into_iter().enumerate() {
        parts[i % args.partitions].push(b);
    }
    let mem = MemTable::try_new(table.schema, parts).map_err(|e| e.to_string())?;
    ctx.register_table("paths", Arc::new(mem))
        .map_err(|e| e.to_string())?;
    // Credits split where the core splits them: at the finest scale among
    // the converting rows' values.
    args.config.scale = table.credit_scale;
    let value = if table.value_scale.is_some() {
        "total_conversion_value"
    } else {
        "NULL"
    };
    let config = serde_json::to_string(&args.config).map_err(|e| e.to_string())?;
    let sql = format!(
        "SELECT unnest(attribute_paths(path, total_conversions, total_null, {value}, seen,\n  '{config}')) AS credit\nFROM paths"
    );
    Ok((sql, table.credit_scale))
}

/// Refuses CSV values with more places than the `value` column's scale:
/// DataFusion's CSV reader would cut them without an error. Fields are
/// counted from the end of the line, so commas in earlier (quoted) fields
/// do not shift the value.
fn check_csv_places(file: &str, scale: i8) -> Result<(), String> {
    use std::io::BufRead;
    let input = std::fs::File::open(file).map_err(|e| format!("{file}: {e}"))?;
    let mut lines = BufReader::new(input).lines();
    let header = match lines.next() {
        Some(h) => h.map_err(|e| format!("{file}: {e}"))?,
        None => return Ok(()),
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let Some(col) = names.iter().position(|n| *n == "value") else {
        return Ok(());
    };
    let from_end = names.len() - 1 - col;
    for (i, line) in lines.enumerate() {
        let line = line.map_err(|e| format!("{file}: {e}"))?;
        let value = line.rsplit(',').nth(from_end).unwrap_or("").trim();
        if let Some((_, places)) = value.split_once('.')
            && places.len() > scale as usize
        {
            return Err(format!(
                "{file}: line {}: value {value} has more than {scale} decimal places (pass --value-scale {})",
                i + 2,
                places.len()
            ));
        }
    }
    Ok(())
}

/// Registers the touch table `touches`; the query.
async fn load_touches(ctx: &SessionContext, args: &Args) -> Result<String, String> {
    let err = |e: datafusion::error::DataFusionError| format!("{}: {e}", args.file);
    if args.file.ends_with(".parquet") {
        ctx.register_parquet("touches", &args.file, ParquetReadOptions::default())
            .await
            .map_err(err)?;
    } else {
        check_csv_places(&args.file, args.value_scale)?;
        let schema = Schema::new(vec![
            Field::new("journey", DataType::Utf8, false),
            Field::new("ts", DataType::Int64, false),
            Field::new("channel", DataType::Utf8, false),
            Field::new("conversions", DataType::Int64, true),
            Field::new("value", DataType::Decimal128(38, args.value_scale), true),
        ]);
        let options = CsvReadOptions::new().has_header(true).schema(&schema);
        ctx.register_csv("touches", &args.file, options)
            .await
            .map_err(err)?;
    }
    let schema = ctx.table("touches").await.map_err(err)?.schema().clone();
    let value = if schema.has_column_with_unqualified_name("value") {
        "sum(value)"
    } else {
        "NULL"
    };
    let config = serde_json::to_string(&args.config).map_err(|e| e.to_string())?;
    Ok(format!(
        "WITH journeys AS (
  SELECT touch_path(array_agg(struct(ts, channel))) AS path,
         sum(conversions) AS conversions,
         CASE WHEN sum(conversions) > 0 THEN 0 ELSE 1 END AS nulls,
         {value} AS value,
         min(ts) AS seen
  FROM touches GROUP BY journey)
SELECT unnest(attribute_paths(path, conversions, nulls, value, seen,
  '{config}')) AS credit
FROM journeys"
    ))
}

/// Prints the credits as `attribute` does; values at `scale` when given.
fn print(
    batches: &[datafusion::arrow::array::RecordBatch],
    scale: Option<i8>,
) -> Result<(), String> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let io = |e: std::io::Error| format!("writing output: {e}");
    out.write_all(PathReport::CSV_HEADER.as_bytes())
        .map_err(io)?;
    for batch in batches {
        let s: &StructArray = batch.column(0).as_struct();
        let model: &StringArray = s.column(0).as_string();
        let channel: &StringArray = s.column(1).as_string();
        let conversions: &Float64Array = s.column(2).as_primitive();
        let value: &Decimal128Array = s.column(3).as_primitive();
        for i in 0..s.len() {
            let m: PathModel = model.value(i).parse().map_err(|e| format!("{e}"))?;
            let v = if value.is_valid(i) {
                let v =
                    from_decimal128(value.value(i), value.scale()).map_err(|e| e.to_string())?;
                let s = scale.unwrap_or(value.scale());
                Some(leadflow_datafusion::money::at_scale(v, s).map_err(|e| e.to_string())?)
            } else {
                None
            };
            ChannelCredit::new(channel.value(i), conversions.value(i), v)
                .write_csv_row(m, &mut out)
                .map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

async fn run() -> Result<(), String> {
    let mut args = parse_args()?;
    let ctx = session(args.partitions);
    let (sql, scale) = if args.touches {
        (load_touches(&ctx, &args).await?, None)
    } else {
        load_paths(&ctx, &mut args)?
    };
    eprintln!("-- {} partition(s)\n{sql};", args.partitions);
    let batches = ctx
        .sql(&sql)
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| format!("{}: {e}", args.file))?;
    print(&batches, scale)
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
