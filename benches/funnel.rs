//! Funnel report throughput: tallying leads' histories (transitions per
//! second) and merging partition tallies.

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leadflow::funnel::{Funnel, FunnelOptions, FunnelTally};
use leadflow::{Actor, Engine, Event, EventBody, Lead, Mergeable, Reason, ReasonCode, Source};
use std::hint::black_box;

/// `n` leads over six months, each walking part of the waterfall: about six
/// transitions a lead, a deal and a win for one in five.
fn leads(engine: &Engine, n: usize) -> Vec<Lead> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let path = ["Inquiry", "MQL", "SAL", "SQL", "Opportunity"];
    (0..n)
        .map(|l| {
            let id = format!("lead-{l}");
            let mut at = start + TimeDelta::minutes((l as i64 * 263) % (180 * 24 * 60));
            let mut evs = vec![Event::new(
                "0",
                id.as_str(),
                at,
                EventBody::Created {
                    stage: "Anonymous".into(),
                    source: Source::Marketing,
                    actor: Actor::Marketing,
                },
            )];
            // How far along the path this lead gets.
            let depth = 1 + (l * 7919) % 5;
            for (i, stage) in path.iter().take(depth).enumerate() {
                at += TimeDelta::hours(20 + ((l + i) % 90) as i64);
                evs.push(Event::new(
                    format!("{}", i + 1),
                    id.as_str(),
                    at,
                    EventBody::Advanced {
                        to: (*stage).into(),
                        actor: Actor::Sales,
                        reason: None,
                    },
                ));
            }
            at += TimeDelta::hours(30);
            let end = if depth == 5 && l % 2 == 0 {
                EventBody::Advanced {
                    to: "Won".into(),
                    actor: Actor::Sales,
                    reason: None,
                }
            } else {
                EventBody::Advanced {
                    to: "Lost".into(),
                    actor: Actor::Sales,
                    reason: Some(Reason::new(ReasonCode::Competitor)),
                }
            };
            evs.push(Event::new("9", id.as_str(), at, end));
            engine.replay(id, evs)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let engine = Engine::from_json(r#"{"lifecycle": {"preset": "waterfall"}}"#).unwrap();
    let day = |m, d| Utc.with_ymd_and_hms(2026, m, d, 0, 0, 0).unwrap();
    let funnel = Funnel::new(&engine, FunnelOptions::new(day(1, 1), day(7, 1), day(9, 1))).unwrap();
    let mut group = c.benchmark_group("funnel");
    group.sample_size(10);
    for n in [100_000usize, 1_000_000] {
        let population = leads(&engine, n);
        let transitions: usize = population.iter().map(|l| l.history().len()).sum();
        group.throughput(Throughput::Elements(transitions as u64));
        group.bench_function(format!("tally_{n}_leads"), |b| {
            b.iter(|| black_box(funnel.tally(&population)))
        });
        // Two partitions tallied apart and merged: the scale-out path.
        group.bench_function(format!("tally_two_partitions_and_merge_{n}_leads"), |b| {
            b.iter(|| {
                let (a, z) = population.split_at(n / 2);
                let mut left: FunnelTally = funnel.tally(a);
                left.merge(funnel.tally(z));
                black_box(left)
            })
        });
        let tally = funnel.tally(&population);
        group.bench_function(format!("report_{n}_leads"), |b| {
            b.iter(|| black_box(funnel.report(&tally)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
