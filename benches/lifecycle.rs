//! Lifecycle throughput: events per second for in-order apply and for replay
//! from scratch.

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leadflow::{Actor, Engine, Event, EventBody, Lead, Reason, ReasonCode, Source};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// `leads` journeys of 10 events each through the waterfall: created,
/// identified, forward moves, a recycle and a second cycle, a loss.
fn journeys(leads: usize) -> Vec<Vec<Event>> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let steps: [(&str, bool); 8] = [
        ("Inquiry", false),
        ("MQL", false),
        ("SAL", false),
        ("", true), // recycle
        ("MQL", false),
        ("SQL", false),
        ("Opportunity", false),
        ("Lost", false),
    ];
    (0..leads)
        .map(|l| {
            let lead = format!("lead-{l:06}");
            let at = |i: i64| start + TimeDelta::minutes(l as i64 * 7 + i * 600);
            let mut evs = vec![
                Event::new(
                    format!("{lead}-0"),
                    lead.as_str(),
                    at(0),
                    EventBody::Created {
                        stage: "Anonymous".into(),
                        source: Source::Marketing,
                        actor: Actor::System,
                    },
                ),
                Event::new(
                    format!("{lead}-1"),
                    lead.as_str(),
                    at(1),
                    EventBody::Identified {
                        visitor: format!("visitor-{l}").into(),
                    },
                ),
            ];
            for (i, (to, recycle)) in steps.iter().enumerate() {
                let body = if *recycle {
                    EventBody::Recycled {
                        actor: Actor::Sales,
                        reason: Reason::new(ReasonCode::Timing),
                    }
                } else {
                    EventBody::Advanced {
                        to: (*to).into(),
                        actor: Actor::Sales,
                        reason: (*to == "Lost").then(|| Reason::new(ReasonCode::Competitor)),
                    }
                };
                evs.push(Event::new(
                    format!("{lead}-{}", i + 2),
                    lead.as_str(),
                    at(i as i64 + 2),
                    body,
                ));
            }
            evs
        })
        .collect()
}

/// Times `iters` runs of `fold` on fresh copies of `data`. Copying the input
/// and dropping the leads happen outside the timing: the figure is the cost
/// of folding.
fn timed(iters: u64, data: &[Vec<Event>], fold: impl Fn(Vec<Vec<Event>>) -> Vec<Lead>) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let input = data.to_vec();
        let start = Instant::now();
        let leads = black_box(fold(input));
        total += start.elapsed();
        drop(leads);
    }
    total
}

/// Feeds each journey's events one at a time into a fresh lead.
fn one_by_one(
    engine: &Engine,
    data: Vec<Vec<Event>>,
    feed: impl Fn(&mut Lead, Event),
) -> Vec<Lead> {
    data.into_iter()
        .enumerate()
        .map(|(i, evs)| {
            let mut lead = engine.new_lead(format!("lead-{i}"));
            for e in evs {
                feed(&mut lead, e);
            }
            lead
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let engine = Engine::from_json(r#"{"lifecycle": {"preset": "waterfall"}}"#).unwrap();
    let data = journeys(10_000);
    let total: usize = data.iter().map(Vec::len).sum();
    {
        // Sanity: every event applies.
        let lead = engine.replay("x", data[0].clone());
        assert!(lead.ignored().is_empty(), "{:?}", lead.ignored());
    }
    let mut group = c.benchmark_group("lifecycle");
    group.throughput(Throughput::Elements(total as u64));
    group.sample_size(20);
    group.bench_function("replay_100k_events", |b| {
        b.iter_custom(|iters| {
            timed(iters, &data, |data| {
                data.into_iter()
                    .enumerate()
                    .map(|(i, evs)| engine.replay(format!("lead-{i}"), evs))
                    .collect()
            })
        })
    });
    group.bench_function("apply_in_order_100k_events", |b| {
        b.iter_custom(|iters| {
            timed(iters, &data, |data| {
                one_by_one(&engine, data, |lead, e| {
                    let _ = black_box(engine.apply(lead, e));
                })
            })
        })
    });
    group.bench_function("ingest_reversed_100k_events", |b| {
        b.iter_custom(|iters| {
            let reversed: Vec<Vec<Event>> = data
                .iter()
                .map(|evs| evs.iter().rev().cloned().collect())
                .collect();
            timed(iters, &reversed, |data| {
                one_by_one(&engine, data, |lead, e| {
                    black_box(engine.ingest(lead, e));
                })
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
