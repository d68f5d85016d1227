//! Attribution throughput on generated path tables and journeys.
//!
//! Whole-process timings of the `attribute` example on a 1 000 000-path
//! file are measured by `benches/attribute_e2e.sh`.

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leadflow::attribution::{
    Anchored, Attributor, Journey, PathModel, PathReadOptions, PathReader, PathTally, Touch,
};
use rust_decimal::Decimal;
use std::hint::black_box;

const PATHS: usize = 100_000;
const CHANNELS: usize = 10;

/// SplitMix64, enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Rows with geometric lengths (mean about 3.3) over `CHANNELS` channels.
fn rows() -> Vec<(Vec<String>, u64, u64, Decimal)> {
    let mut rng = Rng(7);
    (0..PATHS)
        .map(|_| {
            let mut path = vec![format!("ch{:02}", rng.below(CHANNELS as u64))];
            while path.len() < 30 && rng.below(10) < 7 {
                path.push(format!("ch{:02}", rng.below(CHANNELS as u64)));
            }
            let conv = rng.below(3);
            let null = rng.below(8);
            (path, conv, null, Decimal::new((conv * 100_000) as i64, 2))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rows = rows();
    let mut csv = String::from("path,total_conversions,total_conversion_value,total_null\n");
    for (p, conv, null, v) in &rows {
        csv += &format!("{},{conv},{v},{null}\n", p.join(" > "));
    }
    let mut group = c.benchmark_group("attribution");
    group.throughput(Throughput::Elements(PATHS as u64));
    group.sample_size(10);
    let cases: [(&str, &[PathModel], usize); 4] = [
        (
            "first_last_linear",
            &[PathModel::First, PathModel::Last, PathModel::Linear],
            1,
        ),
        ("markov_order_1", &[PathModel::Markov], 1),
        ("markov_order_3", &[PathModel::Markov], 3),
        ("shapley", &[PathModel::Shapley], 1),
    ];
    for (name, models, order) in cases {
        group.bench_function(format!("tally_and_finish/{name}"), |b| {
            b.iter(|| {
                let mut tally = PathTally::new(models, order).unwrap();
                for (p, conv, null, v) in &rows {
                    tally.add(p.iter().map(String::as_str), *conv, *null, Some(*v));
                }
                black_box(tally.finish().unwrap())
            })
        });
    }
    group.bench_function("read_csv_and_markov_order_1", |b| {
        b.iter(|| {
            let mut reader = PathReader::new(csv.as_bytes(), PathReadOptions::default()).unwrap();
            let mut tally = PathTally::new(&[PathModel::Markov], 1).unwrap();
            tally.read(&mut reader).unwrap();
            black_box(tally.finish().unwrap())
        })
    });
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let journeys: Vec<Journey> = rows
        .iter()
        .map(|(p, _, _, _)| {
            let touches = p
                .iter()
                .enumerate()
                .map(|(i, ch)| Touch::new(start + TimeDelta::hours(i as i64), ch.clone()))
                .collect();
            Journey::new(touches).converted(start + TimeDelta::days(30), Decimal::new(123_456, 2))
        })
        .collect();
    let attributor = Attributor::new();
    let model = Anchored::position_based();
    group.bench_function("journey_credits/position", |b| {
        b.iter(|| {
            for j in &journeys {
                black_box(attributor.credit(j, &model).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
