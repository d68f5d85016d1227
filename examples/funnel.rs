//! Funnel report of an event stream: cohort conversion, velocity and value
//! per period and stage, or the reverse plan for a revenue target.
//!
//! ```sh
//! cargo run --release --example funnel -- examples/data/engine.json examples/data/funnel.ndjson \
//!     --from 2026-01-01 --to 2026-07-01
//! cargo run --release --example funnel -- CONFIG EVENTS --from 2026-01-01 --to 2026-07-01 \
//!     [--by month|week|quarter] [--cut source|channel|campaign|attr:NAME] [--as-of TIME] \
//!     [--first-cycle-only] [--plan-revenue AMOUNT] [--svg FILE]
//! ```
//!
//! Output: CSV `period,stage,entered,advanced,conversion,median_days,
//! mean_days,p90_days,won_value` (a `cut` column after `period` with
//! `--cut`), one row per period and stage with at least one unit, periods
//! in order, stages by rank. On a won stage's row `entered` is the number of
//! wins and `won_value` their exact sum. With `--plan-revenue`, `stage,needed`.
//! `--as-of` defaults to the latest event. `--svg` draws the funnel.

use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::str::FromStr;

use leadflow::funnel::{Cut, Funnel, FunnelOptions, FunnelReport, Granularity};
use leadflow::{Engine, EventReader, LeadStore, Timestamp};
use plotters::prelude::*;
use rust_decimal::Decimal;

const USAGE: &str = "usage: funnel CONFIG EVENTS --from DATE --to DATE [--by month|week|quarter] \
[--cut source|channel|campaign|attr:NAME] [--as-of TIME] [--first-cycle-only] \
[--plan-revenue AMOUNT] [--svg FILE]";

struct Args {
    config: String,
    events: String,
    from: Timestamp,
    to: Timestamp,
    as_of: Option<Timestamp>,
    by: Granularity,
    cut: Cut,
    first_cycle_only: bool,
    plan: Option<Decimal>,
    svg: Option<String>,
}

fn date(flag: &str, v: &str) -> Result<Timestamp, String> {
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| format!("{flag} {v:?}: expected a date such as 2026-01-01"))
}

fn parse_args() -> Result<Args, String> {
    let mut positional = Vec::new();
    let (mut from, mut to, mut as_of, mut plan, mut svg) = (None, None, None, None, None);
    let (mut by, mut cut, mut first_cycle_only) = (Granularity::Month, Cut::None, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--from" => from = Some(date("--from", &value("--from")?)?),
            "--to" => to = Some(date("--to", &value("--to")?)?),
            "--as-of" => {
                let v = value("--as-of")?;
                as_of = Some(
                    chrono::DateTime::parse_from_rfc3339(&v)
                        .map(|t| t.to_utc())
                        .or_else(|_| date("--as-of", &v))
                        .map_err(|_| format!("--as-of {v:?}: expected RFC 3339 or a date"))?,
                );
            }
            "--by" => {
                by = match value("--by")?.as_str() {
                    "week" => Granularity::Week,
                    "month" => Granularity::Month,
                    "quarter" => Granularity::Quarter,
                    other => {
                        return Err(format!("--by {other:?}: expected month, week or quarter"));
                    }
                }
            }
            "--cut" => {
                let v = value("--cut")?;
                cut = match v.as_str() {
                    "source" => Cut::Source,
                    "channel" => Cut::Channel,
                    "campaign" => Cut::Campaign,
                    other => match other.strip_prefix("attr:") {
                        Some(name) if !name.is_empty() => Cut::Attr(name.to_owned()),
                        _ => {
                            return Err(format!(
                                "--cut {other:?}: expected source, channel, campaign or attr:NAME"
                            ));
                        }
                    },
                };
            }
            "--first-cycle-only" => first_cycle_only = true,
            "--plan-revenue" => {
                let v = value("--plan-revenue")?;
                plan =
                    Some(Decimal::from_str(&v).map_err(|e| format!("--plan-revenue {v:?}: {e}"))?);
            }
            "--svg" => svg = Some(value("--svg")?),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => positional.push(arg),
        }
    }
    let [config, events] =
        <[String; 2]>::try_from(positional).map_err(|_| "expected CONFIG and EVENTS".to_owned())?;
    Ok(Args {
        config,
        events,
        from: from.ok_or("--from is required")?,
        to: to.ok_or("--to is required")?,
        as_of,
        by,
        cut,
        first_cycle_only,
        plan,
        svg,
    })
}

fn run(args: Args) -> Result<(), String> {
    let config =
        std::fs::read_to_string(&args.config).map_err(|e| format!("{}: {e}", args.config))?;
    let engine = Engine::from_json(&config).map_err(|e| format!("{}: {e}", args.config))?;
    let file = std::fs::File::open(&args.events).map_err(|e| format!("{}: {e}", args.events))?;
    let events: Vec<_> = EventReader::new(BufReader::new(file))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", args.events))?;
    let latest = events.iter().map(|e| e.at).max();
    let mut store = LeadStore::new(engine.clone());
    store.ingest_all(events);
    let as_of = args.as_of.or(latest).unwrap_or(args.to);
    let options = FunnelOptions::new(args.from, args.to, as_of)
        .by(args.by)
        .cut(args.cut.clone())
        .first_cycle_only(args.first_cycle_only);
    let funnel = Funnel::new(&engine, options).map_err(|e| e.to_string())?;
    let report = funnel.report(&funnel.tally(store.leads()));
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    let written = match args.plan {
        Some(target) => {
            let plan = report.plan(target).map_err(|e| e.to_string())?;
            writeln!(out, "stage,needed").and_then(|()| {
                plan.iter()
                    .try_for_each(|r| writeln!(out, "{},{}", csv_field(&r.stage), r.needed))
            })
        }
        None => write_csv(&mut out, &report, args.cut != Cut::None),
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        // A closed pipe (`| head`) is not an error worth a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.to_string());
        }
    }
    if let Some(path) = args.svg {
        draw(&path, &report).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

pub(crate) fn write_csv(
    out: &mut impl Write,
    report: &FunnelReport,
    with_cut: bool,
) -> std::io::Result<()> {
    let cut_col = if with_cut { "cut," } else { "" };
    writeln!(
        out,
        "period,{cut_col}stage,entered,advanced,conversion,median_days,mean_days,p90_days,won_value"
    )?;
    // One list of rows, in period, cut, then stage order (wins after the
    // path, as the won stages rank above it).
    let rank = |stage: &str| {
        report
            .ranked
            .iter()
            .position(|s| s == stage)
            .unwrap_or(usize::MAX)
    };
    let mut rows: Vec<(String, String, usize, String)> = Vec::new();
    let f = |x: Option<f64>, places: usize| x.map_or(String::new(), |v| format!("{v:.places$}"));
    for r in report.stages.iter().filter(|r| r.entered > 0) {
        rows.push((
            r.period.to_string(),
            r.cut.clone(),
            rank(&r.stage),
            format!(
                "{},{},{},{},{},{},{},",
                csv_field(&r.stage),
                r.entered,
                r.advanced,
                f(r.conversion, 4),
                f(r.median_days, 3),
                f(r.mean_days, 3),
                f(r.p90_days, 3)
            ),
        ));
    }
    for w in &report.wins {
        rows.push((
            w.period.to_string(),
            w.cut.clone(),
            rank(&w.stage),
            format!("{},{},,,,,,{}", csv_field(&w.stage), w.wins, w.won_value),
        ));
    }
    rows.sort();
    for (period, cut, _, rest) in rows {
        if with_cut {
            writeln!(out, "{period},{},{rest}", csv_field(&cut))?;
        } else {
            writeln!(out, "{period},{rest}")?;
        }
    }
    Ok(())
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Draws the funnel over the whole window: a bar per stage (units entered),
/// the conversion to the next stage, and the mean velocity.
fn draw(path: &str, report: &FunnelReport) -> Result<(), Box<dyn std::error::Error>> {
    let mut totals: Vec<(String, u64, u64, Option<f64>)> = Vec::new();
    for stage in &report.path {
        let rows: Vec<_> = report.stages.iter().filter(|r| &r.stage == stage).collect();
        let entered: u64 = rows.iter().map(|r| r.entered).sum();
        let advanced: u64 = rows.iter().map(|r| r.advanced).sum();
        // The pooled mean: each period's mean weighted by its advances.
        let days: f64 = rows
            .iter()
            .map(|r| r.mean_days.unwrap_or(0.0) * r.advanced as f64)
            .sum();
        let mean = (advanced > 0).then(|| days / advanced as f64);
        totals.push((stage.clone(), entered, advanced, mean));
    }
    let wins: u64 = report.wins.iter().map(|w| w.wins).sum();
    let value: Decimal = report.wins.iter().map(|w| w.won_value).sum();
    totals.push((format!("Won ({value})"), wins, 0, None));
    let max = totals.iter().map(|t| t.1).max().unwrap_or(1).max(1) as f64;
    let (width, row) = (760i32, 56i32);
    let height = row * totals.len() as i32 + 60;
    let root = SVGBackend::new(path, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let font = ("sans-serif", 15).into_font();
    root.draw(&Text::new(
        "Funnel: units entered per stage, conversion to the next, mean days to advance",
        (20, 14),
        font.clone(),
    ))?;
    for (i, (stage, entered, advanced, mean)) in totals.iter().enumerate() {
        let y = 50 + row * i as i32;
        let bar = ((*entered as f64 / max) * 420.0).round() as i32;
        let x0 = 200 + (420 - bar) / 2;
        root.draw(&Rectangle::new(
            [(x0, y), (x0 + bar.max(1), y + row - 18)],
            RGBColor(70, 110, 180).filled(),
        ))?;
        root.draw(&Text::new(
            format!("{stage}: {entered}"),
            (20, y + 10),
            font.clone(),
        ))?;
        if *advanced > 0 || i + 1 < totals.len() {
            let conv = if *entered > 0 {
                format!("→ {:.1} %", 100.0 * *advanced as f64 / *entered as f64)
            } else {
                "→ –".to_owned()
            };
            let vel = mean.map_or(String::new(), |m| format!(", {m:.1} d"));
            root.draw(&Text::new(
                format!("{conv}{vel}"),
                (640, y + 10),
                font.clone(),
            ))?;
        }
    }
    root.present()?;
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("funnel: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("funnel: {e}");
            ExitCode::FAILURE
        }
    }
}
