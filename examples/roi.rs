//! Campaign ROI of an event stream: leads acquired, stages reached, value
//! won and revenue attributed per campaign, against the host's costs.
//!
//! ```sh
//! cargo run --release --example roi -- examples/data/engine.json examples/data/funnel.ndjson \
//!     examples/data/costs.csv --model linear
//! cargo run --release --example roi -- CONFIG EVENTS COSTS.csv \
//!     [--model first|last|linear|position|w|z|time_decay|markov|shapley] \
//!     [--from DATE --to DATE] [--svg FILE]
//! ```
//!
//! Output: CSV `campaign,cost,leads,<one column per unit and won stage>,
//! won_value,attributed_revenue,roi`, one row per campaign in the costs or
//! in the events, by name; money exact, `roi` to 6 decimal places. The
//! window defaults to every event; `--svg` plots revenue against cost.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;

use leadflow::attribution::{
    AttributionModel, Attributor, FirstTouch, JourneyOptions, LastTouch, Linear, PathModel,
    PathTally, TimeDecay, journeys_of, tally_journeys,
};
use leadflow::funnel::{Roi, RoiOptions, RoiReport};
use leadflow::{Engine, EventReader, LeadStore, Span, Timestamp};
use plotters::prelude::*;
use rust_decimal::Decimal;

const USAGE: &str = "usage: roi CONFIG EVENTS COSTS.csv \
[--model first|last|linear|position|w|z|time_decay|markov|shapley] [--from DATE --to DATE] [--svg FILE]";

struct Args {
    config: String,
    events: String,
    costs: String,
    model: String,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
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
    let (mut model, mut from, mut to, mut svg) = ("linear".to_owned(), None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--model" => model = value("--model")?,
            "--from" => from = Some(date("--from", &value("--from")?)?),
            "--to" => to = Some(date("--to", &value("--to")?)?),
            "--svg" => svg = Some(value("--svg")?),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => positional.push(arg),
        }
    }
    let [config, events, costs] = <[String; 3]>::try_from(positional)
        .map_err(|_| "expected CONFIG, EVENTS and COSTS.csv".to_owned())?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(format!("--from ({f}) must be before --to ({t})"));
    }
    if !MODELS.contains(&model.as_str()) {
        return Err(format!(
            "--model {model:?}: expected one of {}",
            MODELS.join(", ")
        ));
    }
    Ok(Args {
        config,
        events,
        costs,
        model,
        from,
        to,
        svg,
    })
}

/// The fields of one CSV line: commas separate, double quotes quote (a
/// doubled quote inside is one quote). `None` for an unclosed quote.
fn csv_fields(line: &str) -> Option<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut()?.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut()?.push(c),
        }
    }
    (!quoted).then_some(fields)
}

/// A costs file: the header `campaign,cost`, then one `campaign,cost` row
/// per campaign (CSV quoting for names with commas); costs are exact,
/// non-negative decimals; a campaign given twice is an error.
fn read_costs(path: &str) -> Result<BTreeMap<String, Decimal>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut costs = BTreeMap::new();
    let mut header = false;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let at = |problem: String| format!("{path}: line {}: {problem}", i + 1);
        let line = line.map_err(|e| at(e.to_string()))?;
        let line = line.trim_start_matches('\u{feff}').trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields = csv_fields(line).ok_or_else(|| at("unclosed quote".into()))?;
        let [name, cost] = <[String; 2]>::try_from(fields).map_err(|f| {
            at(format!(
                "expected 2 fields (campaign,cost), found {}",
                f.len()
            ))
        })?;
        if !header {
            if name.trim() != "campaign" || cost.trim() != "cost" {
                return Err(at(format!(
                    "expected the header campaign,cost, found {line:?}"
                )));
            }
            header = true;
            continue;
        }
        let cost =
            Decimal::from_str_exact(cost.trim()).map_err(|e| at(format!("cost {cost:?}: {e}")))?;
        if cost.is_sign_negative() && !cost.is_zero() {
            return Err(at(format!("cost {cost} is negative")));
        }
        let name = name.trim().to_owned();
        if costs.insert(name.clone(), cost).is_some() {
            return Err(at(format!("campaign {name:?} is given twice")));
        }
    }
    Ok(costs)
}

/// Money printed with at least two decimals, exactly.
fn money(d: Decimal) -> String {
    let mut d = d;
    if d.scale() < 2 {
        d.rescale(2);
    }
    d.to_string()
}

const MODELS: [&str; 9] = [
    "first",
    "last",
    "linear",
    "position",
    "w",
    "z",
    "time_decay",
    "markov",
    "shapley",
];

fn run(args: Args) -> Result<(), String> {
    let config =
        std::fs::read_to_string(&args.config).map_err(|e| format!("{}: {e}", args.config))?;
    let engine = Engine::from_json(&config).map_err(|e| format!("{}: {e}", args.config))?;
    let file = std::fs::File::open(&args.events).map_err(|e| format!("{}: {e}", args.events))?;
    let events: Vec<_> = EventReader::new(BufReader::new(file))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", args.events))?;
    let costs = read_costs(&args.costs)?;
    let first = events.iter().map(|e| e.at).min();
    let latest = events.iter().map(|e| e.at).max();
    let mut store = LeadStore::new(engine.clone());
    store.ingest_all(events);
    let (Some(first), Some(latest)) = (first, latest) else {
        return Err(format!("{}: no events", args.events));
    };
    let from = args.from.unwrap_or(first);
    let to = args.to.unwrap_or(latest + chrono::TimeDelta::seconds(1));
    if from >= to {
        return Err(format!(
            "the window is empty: from {from} is not before to {to}"
        ));
    }
    let options = RoiOptions::new(from, to, latest);
    let roi = Roi::new(&engine, options, Attributor::new());
    // Fitted models learn from every journey of the store.
    let fitted: Box<dyn AttributionModel> = match args.model.as_str() {
        "first" => Box::new(FirstTouch),
        "last" => Box::new(LastTouch),
        "linear" => Box::new(Linear),
        "position" => Box::new(leadflow::attribution::Anchored::position_based()),
        "w" => Box::new(leadflow::attribution::Anchored::w_shaped()),
        "z" => Box::new(leadflow::attribution::Anchored::full_path()),
        "time_decay" => Box::new(TimeDecay::new(Span::days(7)).map_err(|e| e.to_string())?),
        "markov" | "shapley" => {
            let model = if args.model == "markov" {
                PathModel::Markov
            } else {
                PathModel::Shapley
            };
            let mut tally = PathTally::new(&[model], 1).map_err(|e| e.to_string())?;
            for lead in store.leads() {
                tally_journeys(
                    &mut tally,
                    &journeys_of(&engine, lead, &JourneyOptions::default()),
                );
            }
            if args.model == "markov" {
                Box::new(
                    tally
                        .markov()
                        .map_err(|e| e.to_string())?
                        .ok_or("no conversion to fit a Markov model on")?,
                )
            } else {
                Box::new(
                    tally
                        .shapley()
                        .map_err(|e| e.to_string())?
                        .ok_or("no conversion to fit a Shapley model on")?,
                )
            }
        }
        other => {
            return Err(format!(
                "--model {other:?}: expected first, last, linear, position, w, z, time_decay, markov or shapley"
            ));
        }
    };
    let tally = roi
        .tally(store.leads(), fitted.as_ref())
        .map_err(|e| e.to_string())?;
    let report = roi.report(&tally, &costs);
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    // A closed pipe (`| head`) is not an error worth a message.
    if let Err(e) = write_csv(&mut out, &report).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e.to_string());
    }
    if let Some(path) = args.svg {
        draw(&path, &report).map_err(|e| format!("{path}: {e}"))?;
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

pub(crate) fn write_csv(out: &mut impl Write, report: &RoiReport) -> std::io::Result<()> {
    let stages: Vec<String> = report.stages.iter().map(|s| csv_field(s)).collect();
    writeln!(
        out,
        "campaign,cost,leads,{},won_value,attributed_revenue,roi",
        stages.join(",")
    )?;
    for r in &report.rows {
        let reached: Vec<String> = r.reached.iter().map(|(_, n)| n.to_string()).collect();
        writeln!(
            out,
            "{},{},{},{},{},{},{}",
            csv_field(&r.campaign),
            r.cost.map_or(String::new(), money),
            r.leads,
            reached.join(","),
            money(r.won_value),
            money(r.attributed_revenue),
            r.roi.map_or(String::new(), |x| {
                let x = x.round_dp_with_strategy(
                    6,
                    rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                );
                format!("{x:.6}")
            }),
        )?;
    }
    Ok(())
}

/// Revenue attributed against cost, a pair of bars per campaign.
fn draw(path: &str, report: &RoiReport) -> Result<(), Box<dyn std::error::Error>> {
    let to_f = |d: Decimal| d.to_string().parse::<f64>().unwrap_or(0.0);
    let max = report
        .rows
        .iter()
        .map(|r| to_f(r.attributed_revenue).max(r.cost.map_or(0.0, to_f)))
        .fold(1.0, f64::max);
    let (row, width) = (48i32, 760i32);
    let height = row * report.rows.len() as i32 + 70;
    let root = SVGBackend::new(path, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let font = ("sans-serif", 14).into_font();
    root.draw(&Text::new(
        "Attributed revenue (blue) against cost (grey) per campaign",
        (20, 14),
        font.clone(),
    ))?;
    for (i, r) in report.rows.iter().enumerate() {
        let y = 50 + row * i as i32;
        let bar = |v: f64| ((v / max) * 440.0).round() as i32;
        let rev = bar(to_f(r.attributed_revenue));
        let cost = bar(r.cost.map_or(0.0, to_f));
        root.draw(&Rectangle::new(
            [(180, y), (180 + rev.max(1), y + 16)],
            RGBColor(70, 110, 180).filled(),
        ))?;
        root.draw(&Rectangle::new(
            [(180, y + 18), (180 + cost.max(1), y + 34)],
            RGBColor(170, 170, 170).filled(),
        ))?;
        root.draw(&Text::new(r.campaign.clone(), (20, y + 8), font.clone()))?;
        let roi = r.roi.map_or("roi –".to_owned(), |x| {
            format!("roi {:.1} %", to_f(x) * 100.0)
        });
        root.draw(&Text::new(roi, (640, y + 8), font.clone()))?;
    }
    root.present()?;
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("roi: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roi: {e}");
            ExitCode::FAILURE
        }
    }
}
