//! Score an event stream with an engine config and print one CSV row per
//! lead, or explain one lead's score and grade.
//!
//! ```sh
//! cargo run --example score -- examples/data/engine.json examples/data/events.ndjson
//! cargo run --example score -- CONFIG EVENTS --at 2026-10-01T00:00:00Z
//! cargo run --example score -- CONFIG EVENTS --explain ada@acme.test
//! cat events.ndjson | cargo run --example score -- CONFIG -
//! ```
//!
//! CONFIG is a JSON engine config, EVENTS an NDJSON file of events (`-`
//! reads stdin). Output: `lead_id,score,grade,stage`, as of `--at` (RFC
//! 3339; default: the latest event time). Scores print as the exact
//! decimals they are (up to six places under decay); an ungraded lead has
//! an empty grade. Events stream through a second thread that parses
//! while the store folds.

use std::io::{BufReader, BufWriter, Read, Write};
use std::process::ExitCode;

use leadflow::{Engine, EventReader, LeadStore, Timestamp};
use rust_decimal::Decimal;

struct Args {
    config: String,
    events: String,
    at: Option<Timestamp>,
    explain: Option<String>,
}

const USAGE: &str = "usage: score CONFIG EVENTS [--at TIME] [--explain LEAD_ID]";

fn parse_args() -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut at = None;
    let mut explain = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--at" => {
                let v = args.next().ok_or("--at needs a time (RFC 3339)")?;
                let t = chrono::DateTime::parse_from_rfc3339(&v).map_err(|e| {
                    format!("--at {v:?}: {e} (expected RFC 3339, e.g. 2026-10-01T00:00:00Z)")
                })?;
                at = Some(t.with_timezone(&chrono::Utc));
            }
            "--explain" => explain = Some(args.next().ok_or("--explain needs a lead id")?),
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n{USAGE}")),
            _ => positional.push(arg),
        }
    }
    let [config, events]: [String; 2] = positional
        .try_into()
        .map_err(|_| format!("expected CONFIG and EVENTS\n{USAGE}"))?;
    Ok(Args {
        config,
        events,
        at,
        explain,
    })
}

/// The event file as a reader (`-` for standard input).
fn open_events(path: &str) -> Result<EventReader<BufReader<Box<dyn Read + Send>>>, String> {
    let reader: Box<dyn Read + Send> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?)
    };
    Ok(EventReader::new(BufReader::with_capacity(1 << 20, reader)))
}

/// A CSV field, quoted when it needs to be.
fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// A score as the exact decimal it is (`12.5`, `0.1`).
fn number(x: Decimal) -> String {
    x.normalize().to_string()
}

/// A failure: a message for the user, or an error writing the output.
enum Failure {
    Input(String),
    Output(std::io::Error),
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Self::Input(e)
    }
}

impl From<&str> for Failure {
    fn from(e: &str) -> Self {
        Self::Input(e.to_owned())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::Output(e)
    }
}

fn run() -> Result<(), Failure> {
    let args = parse_args()?;
    let mut w = BufWriter::new(std::io::stdout().lock());
    let text =
        std::fs::read_to_string(&args.config).map_err(|e| format!("{}: {e}", args.config))?;
    let engine = Engine::from_json(&text).map_err(|e| format!("{}: {e}", args.config))?;
    // Events stream from the file into the store: no copy of the whole
    // file or of the event list is held. The first bad line stops the run.
    let mut latest: Option<Timestamp> = None;
    let mut bad = None;
    // Parsing runs on a second thread, overlapping with the store's work;
    // kinds the rules name are read as the engine's own copies.
    let reader = open_events(&args.events)?
        .with_symbols_of(&engine)
        .in_background()
        .map_err(|e| format!("starting the reader thread: {e}"))?;
    let events = reader.map_while(|read| match read {
        Ok(event) => {
            latest = latest.max(Some(event.at));
            Some(event)
        }
        Err(e) => {
            bad = Some(e);
            None
        }
    });
    let mut store = LeadStore::new(engine.clone());
    let rejected = store.ingest_all(events);
    if let Some(e) = bad {
        return Err(format!("{}: {e}", args.events).into());
    }
    if let Some(first) = rejected.first() {
        eprintln!(
            "warning: {} events rejected and not kept (first: {first})",
            rejected.len()
        );
    }
    let at = args
        .at
        .or(latest)
        .ok_or("no events and no --at: nothing to score")?;

    if let Some(id) = args.explain {
        let lead = store
            .lead(&id.as_str().into())
            .ok_or_else(|| format!("no lead {id:?} in the events"))?;
        let lc = engine.lifecycle();
        writeln!(w, "lead {} at {}", lead.id(), at.to_rfc3339())?;
        writeln!(
            w,
            "stage {} (cycle {}, furthest {})",
            lc.name(lead.stage().current()),
            lead.stage().cycle(),
            lc.name(lead.stage().furthest())
        )?;
        // The cards and the history print themselves.
        writeln!(w, "\n{}", engine.score_card(lead, at))?;
        writeln!(w, "\n{}", engine.grade_card(lead))?;
        if let Some(p) = engine.priority(lead, at) {
            writeln!(w, "priority {p}")?;
        }
        writeln!(w, "\nhistory\n{}", lead.timeline())?;
        for ig in lead.ignored() {
            writeln!(w, "  ignored {ig}")?;
        }
        w.flush()?;
        return Ok(());
    }

    writeln!(w, "lead_id,score,grade,stage")?;
    for lead in store.leads() {
        let score = engine.score(lead, at);
        let grade = lead.grade().map_or(String::new(), |g| g.to_string());
        let stage = engine.lifecycle().name(lead.stage().current());
        writeln!(
            w,
            "{},{},{},{}",
            csv(lead.id().as_str()),
            number(score),
            csv(&grade),
            csv(stage)
        )?;
    }
    w.flush()?;
    // The process ends here: handing a million events back to the
    // allocator one by one would only delay the exit.
    std::mem::forget(store);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(Failure::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(e)) => {
            eprintln!("error: writing output: {e}");
            ExitCode::FAILURE
        }
        Err(Failure::Input(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
