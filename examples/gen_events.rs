//! Generate an NDJSON event stream for the `score` example: N activities
//! spread over LEADS leads, one minute apart, seeded and reproducible.
//!
//! ```sh
//! cargo run --release --example gen_events -- 1000000 1 > one_lead.ndjson
//! cargo run --release --example gen_events -- 1000000 10000 --order jittered > many.ndjson
//! ```
//!
//! `--order in_order` (default), `jittered` (every tenth event swapped with
//! its neighbour) or `reversed`. Kinds and attributes match the rules of
//! `examples/data/engine.json`, so most activities score.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: gen_events N LEADS [--order in_order|jittered|reversed]";
    let (Some(n), Some(leads)) = (
        args.first().and_then(|s| s.parse::<usize>().ok()),
        args.get(1).and_then(|s| s.parse::<usize>().ok()),
    ) else {
        eprintln!("{usage}");
        return ExitCode::FAILURE;
    };
    let order = match args.iter().position(|a| a == "--order") {
        None => "in_order",
        Some(i) => match args.get(i + 1).map(String::as_str) {
            Some(o @ ("in_order" | "jittered" | "reversed")) => o,
            _ => {
                eprintln!("{usage}");
                return ExitCode::FAILURE;
            }
        },
    };
    let leads = leads.max(1);
    let kinds = [
        ("page_view", r#""url": "/pricing/team""#),
        ("page_view", r#""url": "/blog/scoring""#),
        ("email_open", r#""campaign": "spring""#),
        ("email_click", r#""url": "/demo""#),
        ("form_submit", r#""asset": "roi-guide""#),
        ("webinar_attended", r#""minutes": 42"#),
    ];
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .map(|t| t.to_utc())
        .unwrap_or_default();
    let mut order_of: Vec<usize> = (0..n).collect();
    match order {
        "jittered" => {
            for i in (0..n.saturating_sub(1)).step_by(10) {
                order_of.swap(i, i + 1);
            }
        }
        "reversed" => order_of.reverse(),
        _ => {}
    }
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    for i in order_of {
        // SplitMix64 of the event's index: the same events in every order.
        let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let (kind, attrs) = kinds[(z % kinds.len() as u64) as usize];
        let lead = i % leads;
        let at = start + chrono::TimeDelta::minutes(i as i64);
        let line = format!(
            r#"{{"id": "e{i}", "lead": "lead-{lead}@example.test", "at": "{}", "body": {{"type": "activity", "kind": "{kind}", "attrs": {{{attrs}}}}}}}"#,
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        if writeln!(out, "{line}").is_err() {
            // A closed pipe (`| head`) ends the stream quietly.
            return ExitCode::SUCCESS;
        }
    }
    // A flush error is a closed pipe too.
    let _ = out.flush();
    ExitCode::SUCCESS
}
