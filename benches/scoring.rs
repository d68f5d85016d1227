//! Scoring throughput: activities per second through the engine (scoring,
//! grading and qualification together), with and without decay, and with
//! 10 versus 1 000 rules when the extra rules are for other activity kinds;
//! and compiling configs of 10 000 and 100 000 rules (rules per second).

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use leadflow::{AttrValue, Engine, EngineConfig, Event, EventBody, Lead};
use serde_json::json;
use std::hint::black_box;

mod common;
use common::{cached_chunk, lead_of, timed};

const LEADS: usize = 1_000;
const PER_LEAD: usize = 200;

/// `rules` rules spread evenly over `kinds` activity kinds, as real models
/// are: per kind, the first rule has no predicate (any page view) and the
/// others tell activities apart by a URL prefix, so an activity fires about
/// two rules. Every seventh rule has a one-day window.
fn config(rules: usize, kinds: usize, decay: bool) -> String {
    config_with_others(rules, kinds, 0, decay)
}

/// As [`config`], plus `others` rules for 195 kinds the stream never has.
fn config_with_others(rules: usize, kinds: usize, others: usize, decay: bool) -> String {
    let prefixes = [
        "/pricing", "/blog", "/docs", "/about", "/careers", "/product",
    ];
    let rules: Vec<_> = (0..rules)
        .map(|i| {
            let mut when = json!({"kind": format!("kind_{}", i % kinds)});
            let nth_of_kind = i / kinds;
            if nth_of_kind > 0 {
                let prefix = prefixes[(nth_of_kind - 1) % prefixes.len()];
                when["attrs"] = json!([{"attr": "url", "op": "starts_with", "value": prefix}]);
            }
            let group = ["a", "b", "c"][i % 3];
            let points = (i % 13) as f64 - 3.0;
            let mut rule =
                json!({"id": format!("r{i}"), "when": when, "points": points, "group": group});
            if i % 7 == 0 {
                rule["frequency"] = json!({"window": "1d"});
            }
            rule
        })
        .chain((0..others).map(|i| {
            json!({"id": format!("other{i}"), "points": 1,
                   "when": {"kind": format!("other_kind_{}", i % 195),
                            "attrs": [{"attr": "url", "op": "contains", "value": "x"}]}})
        }))
        .collect();
    let mut scoring = json!({
        "groups": [{"name": "a", "max": 500}, {"name": "b", "min": 0}, {"name": "c"}],
        "rules": rules,
    });
    if decay {
        scoring["decay"] = json!({"half_life": "30d"});
    }
    json!({
        "lifecycle": {"preset": "waterfall"},
        "scoring": scoring,
        "qualification": [{"id": "mql", "when": {"score": {"min": 150}, "stages": ["Anonymous", "Inquiry"]}, "then": "MQL"}]
    })
    .to_string()
}

/// Activities over the first `kinds` kinds, per lead, in time order.
/// Events of a kind share its name, as events read by `EventReader` do.
fn stream(kinds: usize) -> Vec<Vec<Event>> {
    stream_of((0..kinds).map(|k| format!("kind_{k}").into()).collect())
}

/// [`stream`] with the kinds as `engine`'s own copies ([`Engine::symbol`]),
/// as an `EventReader` built `with_symbols_of` the engine reads them.
fn stream_for(kinds: usize, engine: &Engine) -> Vec<Vec<Event>> {
    stream_of(
        (0..kinds)
            .map(|k| engine.symbol(&format!("kind_{k}")))
            .collect(),
    )
}

/// Activities over the kinds `names`, per lead, in time order.
fn stream_of(names: Vec<leadflow::Symbol>) -> Vec<Vec<Event>> {
    let kinds = names.len();
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let urls = ["/pricing/team", "/blog/a", "/docs/b", "/pricing", "/about"];
    (0..LEADS)
        .map(|l| {
            let lead = format!("lead-{l:05}");
            (0..PER_LEAD)
                .map(|i| {
                    let mut attrs = leadflow::Attrs::new();
                    attrs.insert("url".into(), AttrValue::from(urls[(l + i) % urls.len()]));
                    Event::new(
                        format!("{lead}-{i:04}"),
                        lead.as_str(),
                        start + TimeDelta::minutes((i * 97 + l) as i64),
                        EventBody::Activity {
                            kind: names[(i * 7 + l) % kinds].clone(),
                            channel: None,
                            campaign: None,
                            attrs,
                        },
                    )
                })
                .collect()
        })
        .collect()
}

fn replay_all(engine: &Engine, data: Vec<Vec<Event>>) -> Vec<Lead> {
    data.into_iter()
        .map(|evs| engine.replay(lead_of(&evs), evs))
        .collect()
}

fn ingest_all(engine: &Engine, data: Vec<Vec<Event>>) -> Vec<Lead> {
    data.into_iter()
        .map(|evs| {
            let mut lead = engine.new_lead(lead_of(&evs));
            for e in evs {
                black_box(engine.ingest(&mut lead, e));
            }
            lead
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let data20 = stream(20);
    let total = (LEADS * PER_LEAD) as u64;
    let mut group = c.benchmark_group("scoring");
    group.throughput(Throughput::Elements(total));
    group.sample_size(10);
    for (name, decay) in [
        ("100_rules_20_kinds", false),
        ("100_rules_20_kinds_half_life", true),
    ] {
        let engine = Engine::from_json(&config(100, 20, decay)).unwrap();
        // Sanity: one by one and replay fold the same events, none rejected.
        let one = ingest_all(&engine, data20[..1].to_vec());
        assert_eq!(one[0].events().len(), PER_LEAD);
        assert_eq!(one[0], replay_all(&engine, data20[..1].to_vec())[0]);
        // The whole input in one chunk (from main memory), and in chunks
        // of about 1 000 events (in cache).
        let (all, cached) = (data20.len(), cached_chunk(&data20));
        let replay = |data| replay_all(&engine, data);
        let ingest = |data| ingest_all(&engine, data);
        group.bench_function(format!("replay/{name}"), |b| {
            b.iter_custom(|iters| timed(iters, &data20, all, replay))
        });
        group.bench_function(format!("ingest/{name}"), |b| {
            b.iter_custom(|iters| timed(iters, &data20, all, ingest))
        });
        group.bench_function(format!("replay_in_cache/{name}"), |b| {
            b.iter_custom(|iters| timed(iters, &data20, cached, replay))
        });
        group.bench_function(format!("ingest_in_cache/{name}"), |b| {
            b.iter_custom(|iters| timed(iters, &data20, cached, ingest))
        });
        // The same events, their kinds the engine's own copies.
        let own = stream_for(20, &engine);
        assert_eq!(own, data20);
        group.bench_function(format!("ingest_in_cache/{name}_engine_kinds"), |b| {
            b.iter_custom(|iters| timed(iters, &own, cached, ingest))
        });
    }
    // The stream only has kinds 0..5, with two rules each in both models;
    // the 1 000-rule model's other 990 rules are for 195 kinds that never
    // occur, so its cost per activity should be the same.
    let data5 = stream(5);
    for (name, others) in [("10_rules", 0), ("1000_rules_990_for_other_kinds", 990)] {
        let engine = Engine::from_json(&config_with_others(10, 5, others, false)).unwrap();
        group.bench_function(format!("replay/{name}"), |b| {
            b.iter_custom(|iters| timed(iters, &data5, data5.len(), |d| replay_all(&engine, d)))
        });
    }
    group.finish();
}

/// Compiling a parsed config (`Engine::new`): linear in the number of
/// rules. The copy of the config each run consumes is made outside the
/// timing.
fn config_compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("config_compile");
    group.sample_size(10);
    for rules in [10_000, 100_000] {
        let config: EngineConfig = serde_json::from_str(&config(rules, 20, false)).unwrap();
        group.throughput(Throughput::Elements(rules as u64));
        group.bench_function(format!("{rules}_rules"), |b| {
            b.iter_batched(
                || config.clone(),
                |config| Engine::new(config).unwrap(),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// Reading NDJSON events (`EventReader`), in bytes per second: one thread,
/// and parsing on a second thread (`in_background`) while this one takes
/// the events.
fn decoder(c: &mut Criterion) {
    let mut text = String::new();
    for ev in stream(20).into_iter().flatten().take(100_000) {
        text.push_str(&serde_json::to_string(&ev).unwrap());
        text.push('\n');
    }
    let bytes = text.into_bytes();
    let mut group = c.benchmark_group("decoder");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(10);
    group.bench_function("ndjson_100k_activities", |b| {
        b.iter(|| {
            let n = leadflow::EventReader::new(bytes.as_slice())
                .filter(Result::is_ok)
                .count();
            black_box(n)
        })
    });
    group.bench_function("ndjson_100k_activities_in_background", |b| {
        b.iter(|| {
            let reader = leadflow::EventReader::new(std::io::Cursor::new(bytes.clone()));
            let n = reader
                .in_background()
                .unwrap()
                .filter(Result::is_ok)
                .count();
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, bench, config_compile, decoder);
criterion_main!(benches);
