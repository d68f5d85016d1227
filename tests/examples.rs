//! The shipped example data: the config compiles, every event line parses,
//! and the story the data tells comes out of the engine.

use crate::common::pts;
use leadflow::{Engine, Event, LeadStore, ReasonCode};

fn load() -> (Engine, Vec<Event>) {
    let root = env!("CARGO_MANIFEST_DIR");
    let config = std::fs::read_to_string(format!("{root}/examples/data/engine.json")).unwrap();
    let engine = Engine::from_json(&config).unwrap();
    let events = std::fs::read_to_string(format!("{root}/examples/data/events.ndjson"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}", i + 1)))
        .collect();
    (engine, events)
}

#[test]
fn example_data_tells_its_story() {
    let (engine, events) = load();
    let total = events.len();
    let distinct: std::collections::HashSet<_> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(
        total,
        distinct.len() + 1,
        "the stream carries one duplicate on purpose"
    );
    let mut store = LeadStore::new(engine.clone());
    store.ingest_all(events);
    assert_eq!(store.len(), 10, "ten leads; visitors merged into them");
    let lc = engine.lifecycle();
    let stage = |id: &str| {
        lc.name(store.lead(&id.into()).unwrap().stage().current())
            .to_owned()
    };
    assert_eq!(stage("ada@acme.test"), "SQL");
    assert_eq!(stage("carol@initech.test"), "Won");
    assert_eq!(stage("grace@stark.test"), "Won");
    assert_eq!(stage("ivan@wayne.test"), "Disqualified");
    assert_eq!(stage("erin@smallshop.test"), "Inquiry");
    let bob = store.lead(&"bob@globex.test".into()).unwrap();
    assert_eq!(bob.stage().cycle(), 2, "bob was recycled by sales");
    let recycle = bob.history().iter().find(|t| {
        t.reason
            .as_ref()
            .is_some_and(|r| r.code == ReasonCode::NoBudget)
    });
    assert!(recycle.is_some());
    let ivan = store.lead(&"ivan@wayne.test".into()).unwrap();
    assert_eq!(
        ivan.history().last().unwrap().reason.as_ref().unwrap().code,
        ReasonCode::PoorFit
    );
    // Negative points and decay are both at work somewhere in the data.
    let latest = store
        .leads()
        .flat_map(|l| l.events())
        .map(|e| e.at)
        .max()
        .unwrap();
    let cards: Vec<_> = store
        .leads()
        .map(|l| engine.score_card(l, latest))
        .collect();
    assert!(
        cards
            .iter()
            .flat_map(|c| &c.groups)
            .flat_map(|g| &g.entries)
            .any(|e| e.points < pts(0.0))
    );
    assert!(
        cards
            .iter()
            .flat_map(|c| &c.groups)
            .flat_map(|g| &g.entries)
            .any(|e| e.decayed < e.points)
    );
    assert!(
        store.leads().all(|l| l.ignored().is_empty()),
        "the example stream is clean"
    );
}

/// The `funnel` example's own code, to test its CSV on the shipped data.
#[allow(dead_code)]
#[path = "../examples/funnel.rs"]
mod funnel_cli;

#[test]
fn funnel_example_csv_on_the_shipped_data() {
    use leadflow::funnel::{Funnel, FunnelOptions};
    use rust_decimal::Decimal;
    use std::collections::BTreeMap;
    let root = env!("CARGO_MANIFEST_DIR");
    let (engine, _) = load();
    let text = std::fs::read_to_string(format!("{root}/examples/data/funnel.ndjson")).unwrap();
    let events: Vec<Event> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let latest = events.iter().map(|e| e.at).max().unwrap();
    let mut store = LeadStore::new(engine.clone());
    store.ingest_all(events.clone());
    let day = |s: &str| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
    };
    let funnel = Funnel::new(
        &engine,
        FunnelOptions::new(day("2026-01-01"), day("2026-07-01"), latest),
    )
    .unwrap();
    let report = funnel.report(&funnel.tally(store.leads()));
    let mut csv = Vec::new();
    funnel_cli::write_csv(&mut csv, &report, false).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("period,stage,entered,advanced,conversion,median_days,mean_days,p90_days,won_value")
    );
    // Wins and their value per month, by hand from the NDJSON: the last deal
    // amount before each win, per lead (no lead in the data wins twice).
    let mut by_hand: BTreeMap<String, (u64, Decimal)> = BTreeMap::new();
    let mut deal: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut sorted = events.clone();
    sorted.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    for e in &sorted {
        let v = serde_json::to_value(&e.body).unwrap();
        match v["type"].as_str() {
            Some("deal") => {
                deal.insert(
                    e.lead.to_string(),
                    v["amount"].as_str().unwrap().parse().unwrap(),
                );
            }
            Some("recycled") => {
                deal.remove(e.lead.as_str());
            }
            Some("advanced") if v["to"] == "Won" && e.at < day("2026-07-01") => {
                let month = e.at.format("%Y-%m").to_string();
                let cell = by_hand.entry(month).or_default();
                cell.0 += 1;
                cell.1 += deal.get(e.lead.as_str()).copied().unwrap_or_default();
            }
            _ => {}
        }
    }
    assert!(by_hand.len() >= 3, "wins over several months: {by_hand:?}");
    let mut from_csv: BTreeMap<String, (u64, Decimal)> = BTreeMap::new();
    let mut last_period = String::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 9, "{line}");
        assert!(f[0] >= last_period.as_str(), "periods in order: {line}");
        last_period = f[0].to_owned();
        let (entered, advanced): (u64, Option<u64>) = (f[2].parse().unwrap(), f[3].parse().ok());
        if f[1] == "Won" {
            from_csv.insert(f[0].to_owned(), (entered, f[8].parse().unwrap()));
        } else {
            assert!(advanced.unwrap() <= entered, "{line}");
            assert_eq!(f[8], "", "{line}");
            let conv: f64 = f[4].parse().unwrap();
            assert!((conv - advanced.unwrap() as f64 / entered as f64).abs() < 1e-4);
            assert_eq!(f[4].split('.').nth(1).map(str::len), Some(4), "{line}");
        }
    }
    assert_eq!(from_csv, by_hand);
    // The plan for one million needs more of every lower stage.
    let plan = report.plan(Decimal::new(1_000_000, 0)).unwrap();
    assert!(
        plan.windows(2).all(|w| w[1].needed >= w[0].needed),
        "{plan:?}"
    );
}

#[test]
fn funnel_example_runs_end_to_end() {
    let root = env!("CARGO_MANIFEST_DIR");
    let run = |args: &[&str]| {
        std::process::Command::new(crate::common::example_binary("funnel"))
            .args([
                &format!("{root}/examples/data/engine.json"),
                &format!("{root}/examples/data/funnel.ndjson"),
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--from", "2026-01-01", "--to", "2026-07-01"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.starts_with("period,stage,entered,advanced,conversion,median_days,"));
    assert!(csv.lines().any(|l| l.starts_with("2026-03,Won,")), "{csv}");
    let cut = run(&[
        "--from",
        "2026-01-01",
        "--to",
        "2026-07-01",
        "--cut",
        "source",
        "--by",
        "quarter",
    ]);
    let cut = String::from_utf8(cut.stdout).unwrap();
    assert!(cut.starts_with("period,cut,stage,"));
    assert!(
        cut.lines().skip(1).all(|l| l.starts_with("2026-Q")),
        "{cut}"
    );
    let plan = run(&[
        "--from",
        "2026-01-01",
        "--to",
        "2026-07-01",
        "--plan-revenue",
        "500000",
    ]);
    let plan = String::from_utf8(plan.stdout).unwrap();
    assert!(plan.starts_with("stage,needed\nwon,"), "{plan}");
    let bad = run(&["--from", "2026-13-01", "--to", "2026-07-01"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--from"));
    let svg = std::env::temp_dir().join(format!("leadflow-funnel-{}.svg", std::process::id()));
    let out = run(&[
        "--from",
        "2026-01-01",
        "--to",
        "2026-07-01",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let drawn = std::fs::read_to_string(&svg).unwrap();
    let _ = std::fs::remove_file(&svg);
    assert!(drawn.starts_with("<svg") && drawn.contains("Opportunity"));
}

/// The two story examples run and tell what they claim: the MQL rule fires
/// on its own, the score card adds up, sales takes over.
#[test]
fn quickstart_and_story_run_and_tell_their_story() {
    let out = crate::common::run_example::<&str>("quickstart", &[]);
    assert!(
        out.contains("Anonymous -> MQL  advanced by system (rule_fired: mql)"),
        "{out}"
    );
    assert!(out.contains("MQL -> SQL  advanced by sales"), "{out}");
    assert!(out.contains("score 65 at 2026-03-02 15:00 UTC"), "{out}");
    assert!(
        out.contains("grade C (fit 100)") && out.contains("priority C2"),
        "{out}"
    );
    assert!(
        out.contains("SLA in MQL: due 2026-03-03 14:00:00 UTC (within)"),
        "{out}"
    );
    let story = crate::common::run_example::<&str>("story", &[]);
    assert!(story.contains("reason RuleFired (mql)"), "{story}");
    assert!(
        story.contains("merged anonymous visitor visitor-42"),
        "{story}"
    );
}

/// The `predict` example end to end on generated tables: one probability
/// per test row, the AUC it reports is the AUC of what it printed, the
/// explanation names the first row's probability, and bad input is a
/// clear error.
#[test]
fn predict_example_scores_a_generated_table() {
    let dir = std::env::temp_dir().join(format!("leadflow-predict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let train = dir.join("train.csv");
    let test = dir.join("test.csv");
    std::fs::write(
        &train,
        crate::common::run_example("gen_leads", &["3000", "--seed", "1"]),
    )
    .unwrap();
    std::fs::write(
        &test,
        crate::common::run_example("gen_leads", &["500", "--seed", "2"]),
    )
    .unwrap();
    let labels: Vec<bool> = std::fs::read_to_string(&test)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.ends_with(",won"))
        .collect();
    assert_eq!(labels.len(), 500);
    let mut by_model = Vec::new();
    for model in ["nb", "lr"] {
        let out = std::process::Command::new(crate::common::example_binary("predict"))
            .args([
                "--train",
                train.to_str().unwrap(),
                "--test",
                test.to_str().unwrap(),
            ])
            .args([
                "--target",
                "outcome",
                "--positive",
                "won",
                "--model",
                model,
                "--explain",
                "0",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let mut lines = stdout.lines();
        assert_eq!(lines.next(), Some("score"));
        let scores: Vec<f64> = lines.map(|l| l.parse().unwrap()).collect();
        assert_eq!(scores.len(), 500);
        assert!(scores.iter().all(|p| (0.0..=1.0).contains(p)));
        let auc = leadflow::predict::roc_auc(&scores, &labels).unwrap();
        assert!(
            stderr.contains(&format!("test ROC AUC {auc:.6} (500 rows)")),
            "{stderr}"
        );
        assert!(auc > 0.7, "{model}: {auc}");
        assert!(
            stderr.contains(&format!("row 0: probability {:.3}", scores[0])),
            "{stderr}"
        );
        by_model.push(scores);
    }
    assert_ne!(by_model[0], by_model[1]);

    // A ragged line and a missing option are errors that say where.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "a,b,outcome\n1,2,won\n3,lost\n").unwrap();
    let out = std::process::Command::new(crate::common::example_binary("predict"))
        .args([
            "--train",
            bad.to_str().unwrap(),
            "--test",
            bad.to_str().unwrap(),
        ])
        .args(["--target", "outcome", "--positive", "won"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3 has 2 fields, the header has 3"),
        "{stderr}"
    );
    let out = std::process::Command::new(crate::common::example_binary("predict"))
        .args(["--test", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--train FILE is required"));
    let run = |args: &[&str]| {
        let out = std::process::Command::new(crate::common::example_binary("predict"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Both files, with the target and positive label the tests use.
    let run_on = |train: &str, test: &str, extra: &[&str]| {
        let mut args = vec![
            "--train",
            train,
            "--test",
            test,
            "--target",
            "outcome",
            "--positive",
            "won",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    // A value that is another option is a missing value.
    let (code, _, err) = run(&["--train", "--test", "x.csv"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--train needs a value"), "{err}");
    // A byte-order mark, a blank line between rows, and a quoted line
    // break: --explain names the same row the scores list, and errors
    // name physical lines.
    let train = write(
        "bom.csv",
        "\u{feff}industry,visits,outcome\nsoftware,3,won\nretail,1,lost\nsoftware,5,won\nretail,2,lost\n",
    );
    let test = write(
        "blank.csv",
        "industry,visits,outcome\nsoftware,3,won\n\nretail,1,lost\n",
    );
    let (code, scores, err) = run_on(&train, &test, &["--model", "nb", "--explain", "1"]);
    assert_eq!(code, Some(0), "{err}");
    let scores: Vec<f64> = scores.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    assert_eq!(scores.len(), 2);
    assert!(
        err.contains(&format!("row 1: probability {:.3}", scores[1])),
        "{err}"
    );
    assert!(err.contains("industry = retail"), "{err}");
    let ragged = write("ragged.csv", "a,outcome\n\"x\ny\",won\n1,won,3\n");
    let (code, _, err) = run_on(&ragged, &ragged, &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("line 4 has 3 fields"), "{err}");
    let empty_target = write("empty_target.csv", "a,outcome\n1,won\n2,\n");
    let (code, _, err) = run_on(&empty_target, &empty_target, &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("line 3: the target \"outcome\" is empty"),
        "{err}"
    );
    let (code, _, err) = run_on(&train, &test, &["--categorical", "nosuch"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no column \"nosuch\""), "{err}");
    // A quote inside an unquoted field is a character; an unclosed quoted
    // field is an error that says so.
    let stray = write(
        "stray.csv",
        "a,outcome\nmonitor 5\" screen,won\nx,lost\ny,won\n",
    );
    let (code, scores, err) = run_on(&stray, &stray, &["--model", "nb"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(scores.lines().count(), 4);
    let open = write("open.csv", "a,outcome\n\"x,won\ny,lost\n");
    let (code, _, err) = run_on(&open, &open, &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("line 2: a quoted field is never closed"),
        "{err}"
    );
    let (code, _, err) = run_on(&stray, &stray, &["--drop", "zz"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no column \"zz\" to drop"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The generators feed the examples that read them: `gen_events` into
/// `score` (one row per lead, every score a decimal, the same table in
/// any arrival order), `gen_paths` into `attribute` (credits sum to the
/// table's conversions per model).
#[test]
fn generators_feed_score_and_attribute() {
    let dir = std::env::temp_dir().join(format!("leadflow-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let config = format!("{root}/examples/data/engine.json");
    let mut tables = Vec::new();
    for order in ["in_order", "reversed"] {
        let events = dir.join(format!("{order}.ndjson"));
        let text = crate::common::run_example("gen_events", &["3000", "40", "--order", order]);
        assert_eq!(text.lines().count(), 3000);
        std::fs::write(&events, text).unwrap();
        let table =
            crate::common::run_example("score", &[config.as_str(), events.to_str().unwrap()]);
        let mut lines = table.lines();
        assert_eq!(lines.next(), Some("lead_id,score,grade,stage"));
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 40, "{table}");
        for row in &rows {
            let score = row.split(',').nth(1).unwrap();
            assert!(score.parse::<rust_decimal::Decimal>().is_ok(), "{row}");
        }
        tables.push(table);
    }
    assert_eq!(tables[0], tables[1], "arrival order changes nothing");

    let paths = dir.join("paths.csv");
    std::fs::write(
        &paths,
        crate::common::run_example("gen_paths", &["2000", "6", "--seed", "3"]),
    )
    .unwrap();
    let total: f64 = std::fs::read_to_string(&paths)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse::<f64>().unwrap())
        .sum();
    let out = crate::common::run_example(
        "attribute",
        &[
            "--model",
            "linear",
            "--model",
            "markov",
            paths.to_str().unwrap(),
        ],
    );
    for model in ["linear", "markov"] {
        let credited: f64 = out
            .lines()
            .skip(1)
            .filter(|l| l.starts_with(&format!("{model},")))
            .map(|l| l.split(',').nth(2).unwrap().parse::<f64>().unwrap())
            .sum();
        assert!(
            (credited - total).abs() < 1e-6 * total.max(1.0),
            "{model}: {credited} vs {total}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
