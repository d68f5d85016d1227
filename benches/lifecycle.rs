//! Lifecycle throughput: events per second for in-order apply and for replay
//! from scratch.

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leadflow::{Actor, Engine, Event, EventBody, Lead, Reason, ReasonCode, Source};
use std::hint::black_box;
use std::time::{Duration, Instant};

mod common;
use common::{cached_chunk, lead_of, timed};

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

/// Replays each journey into a lead of the id its events name.
fn replay_each(engine: &Engine, data: Vec<Vec<Event>>) -> Vec<Lead> {
    data.into_iter()
        .map(|evs| engine.replay(lead_of(&evs), evs))
        .collect()
}

/// Feeds each journey's events one at a time into a fresh lead.
fn one_by_one(
    engine: &Engine,
    data: Vec<Vec<Event>>,
    feed: impl Fn(&mut Lead, Event),
) -> Vec<Lead> {
    data.into_iter()
        .map(|evs| {
            let mut lead = engine.new_lead(lead_of(&evs));
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
        // Sanity: every event applies, through replay and one by one (an
        // event naming another lead would be rejected and time nothing).
        let lead = engine.replay("x", data[0].clone());
        assert!(lead.ignored().is_empty(), "{:?}", lead.ignored());
        let leads = one_by_one(&engine, data[..2].to_vec(), |lead, e| {
            engine.apply(lead, e).expect("every event applies");
        });
        assert_eq!(leads[1].events().len(), data[1].len());
    }
    let mut group = c.benchmark_group("lifecycle");
    group.throughput(Throughput::Elements(total as u64));
    group.sample_size(20);
    group.bench_function("replay_100k_events", |b| {
        b.iter_custom(|iters| timed(iters, &data, data.len(), |data| replay_each(&engine, data)))
    });
    group.bench_function("replay_in_cache_100k_events", |b| {
        b.iter_custom(|iters| {
            timed(iters, &data, cached_chunk(&data), |data| {
                replay_each(&engine, data)
            })
        })
    });
    group.bench_function("apply_in_order_in_cache_100k_events", |b| {
        b.iter_custom(|iters| {
            timed(iters, &data, cached_chunk(&data), |data| {
                one_by_one(&engine, data, |lead, e| {
                    let _ = black_box(engine.apply(lead, e));
                })
            })
        })
    });
    group.bench_function("apply_in_order_100k_events", |b| {
        b.iter_custom(|iters| {
            timed(iters, &data, data.len(), |data| {
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
            timed(iters, &reversed, reversed.len(), |data| {
                one_by_one(&engine, data, |lead, e| {
                    black_box(engine.ingest(lead, e));
                })
            })
        })
    });
    group.finish();
}

/// One lead's stream of `n` scored activities, one minute apart.
fn one_lead(n: usize) -> Vec<Event> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            let kind = ["page_view", "email_click", "form_submit", "bounce"][i % 4];
            Event::new(
                format!("e{i:08}"),
                // The lead `one_by_one` feeds.
                "lead-0",
                start + TimeDelta::minutes(i as i64),
                EventBody::Activity {
                    kind: kind.into(),
                    channel: None,
                    campaign: None,
                    attrs: Default::default(),
                },
            )
        })
        .collect()
}

/// `n` identifications forming one chain: `L{k}` identifies `L{k-1}`.
fn chain(n: usize) -> Vec<Event> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (1..=n)
        .map(|k| {
            Event::new(
                format!("c{k:08}"),
                format!("L{k}").as_str(),
                start + TimeDelta::minutes(k as i64),
                EventBody::Identified {
                    visitor: format!("L{}", k - 1).into(),
                },
            )
        })
        .collect()
}

/// Times `iters` runs of feeding `stream` one event at a time into a fresh
/// store that ends with one lead.
fn store_one_by_one(engine: &Engine, iters: u64, stream: &[Event]) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let input = stream.to_vec();
        let mut store = leadflow::LeadStore::new(engine.clone());
        let start = Instant::now();
        for e in input {
            black_box(store.ingest(e));
        }
        total += start.elapsed();
        assert_eq!(store.len(), 1);
    }
    total
}

/// The growth of each arrival shape a user can send: in order, jittered
/// (every tenth event swapped with its neighbour), reversed (one by one and
/// as a batch), and identity chains (forward, reversed, bulk). Each shape
/// is timed at two sizes: linear work shows the same throughput at both.
fn shapes(c: &mut Criterion) {
    let engine = Engine::from_json(
        r#"{"lifecycle": {"preset": "default"},
            "scoring": {"rules": [
              {"id": "v", "when": {"kind": "page_view"}, "points": 1},
              {"id": "c", "when": {"kind": "email_click"}, "points": 3},
              {"id": "f", "when": {"kind": "form_submit"}, "points": 10},
              {"id": "b", "when": {"kind": "bounce"}, "points": -5}]},
            "qualification": [{"id": "mql", "when": {"score": {"min": 50}}, "then": "MQL"}]}"#,
    )
    .unwrap();
    // Sanity: the stream is folded, not rejected.
    let sample = one_lead(1_000);
    let leads = one_by_one(&engine, vec![sample.clone()], |lead, e| {
        let out = engine.ingest(lead, e);
        assert_eq!(out.status, leadflow::IngestStatus::Applied);
    });
    assert_eq!(leads[0].events().len(), sample.len());
    let mut group = c.benchmark_group("shapes");
    group.sample_size(10);
    for n in [20_000usize, 100_000] {
        let in_order = one_lead(n);
        let mut jittered = in_order.clone();
        for i in (0..n.saturating_sub(1)).step_by(10) {
            jittered.swap(i, i + 1);
        }
        let reversed: Vec<Event> = in_order.iter().rev().cloned().collect();
        group.throughput(Throughput::Elements(n as u64));
        for (name, stream) in [("in_order", &in_order), ("jittered", &jittered)] {
            group.bench_function(format!("ingest_{name}_{n}"), |b| {
                b.iter_custom(|iters| {
                    timed(iters, std::slice::from_ref(stream), 1, |data| {
                        one_by_one(&engine, data, |lead, e| {
                            black_box(engine.ingest(lead, e));
                        })
                    })
                })
            });
        }
        group.bench_function(format!("ingest_batch_reversed_{n}"), |b| {
            b.iter_custom(|iters| {
                timed(iters, std::slice::from_ref(&reversed), 1, |data| {
                    data.into_iter()
                        .map(|evs| {
                            let mut lead = engine.new_lead("lead-0");
                            let batch = engine.ingest_batch(&mut lead, evs);
                            assert!(batch.rejected.is_empty() && batch.ignored.is_empty());
                            lead
                        })
                        .collect()
                })
            })
        });
        // Every event twice, the second copy a minute later (another
        // content under the same id): n/2 conflicting copies in one batch.
        let doubled: Vec<Event> = in_order
            .iter()
            .take(n / 2)
            .flat_map(|e| {
                let mut later = e.clone();
                later.at += TimeDelta::minutes(1);
                [e.clone(), later]
            })
            .collect();
        group.bench_function(format!("ingest_batch_conflicting_copies_{n}"), |b| {
            b.iter_custom(|iters| {
                timed(iters, std::slice::from_ref(&doubled), 1, |data| {
                    data.into_iter()
                        .map(|evs| {
                            let mut lead = engine.new_lead("lead-0");
                            let batch = engine.ingest_batch(&mut lead, evs);
                            assert_eq!(batch.conflicting_duplicates, n / 2);
                            lead
                        })
                        .collect()
                })
            })
        });
        let links = chain(n);
        let back: Vec<Event> = links.iter().rev().cloned().collect();
        group.bench_function(format!("identity_chain_forward_{n}"), |b| {
            b.iter_custom(|iters| store_one_by_one(&engine, iters, &links))
        });
        group.bench_function(format!("identity_chain_ingest_all_{n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let input = back.clone();
                    let mut store = leadflow::LeadStore::new(engine.clone());
                    let start = Instant::now();
                    store.ingest_all(input);
                    total += start.elapsed();
                    assert_eq!(store.len(), 1);
                }
                total
            })
        });
    }
    // Fully reversed one by one is quadratic by nature (every event refolds
    // the whole log after it): timed at small sizes to state the law.
    for n in [2_000usize, 8_000] {
        let reversed: Vec<Event> = one_lead(n).into_iter().rev().collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("ingest_reversed_one_by_one_{n}"), |b| {
            b.iter_custom(|iters| {
                timed(iters, std::slice::from_ref(&reversed), 1, |data| {
                    one_by_one(&engine, data, |lead, e| {
                        black_box(engine.ingest(lead, e));
                    })
                })
            })
        });
        let back: Vec<Event> = chain(n).into_iter().rev().collect();
        group.bench_function(format!("identity_chain_reversed_one_by_one_{n}"), |b| {
            b.iter_custom(|iters| store_one_by_one(&engine, iters, &back))
        });
    }
    group.finish();
}

criterion_group!(benches, bench, shapes);
criterion_main!(benches);
