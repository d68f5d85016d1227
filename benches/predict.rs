//! Predictive scoring throughput on 1 000 000 synthetic rows with 20
//! features (10 numeric, 10 categorical of 3 to 10 levels, 5 % missing):
//! fitting naive Bayes and logistic regression, and predicting (rows/s).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leadflow::predict::{LogisticOptions, Model, NaiveBayesOptions, Table};
use std::hint::black_box;

const ROWS: usize = 1_000_000;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Rows with a logistic ground truth over every feature.
fn synthetic(n: usize) -> (Table, Vec<bool>) {
    let mut rng = Rng(11);
    let mut numeric: Vec<Vec<Option<f64>>> = (0..10).map(|_| Vec::with_capacity(n)).collect();
    let mut categorical: Vec<Vec<Option<String>>> =
        (0..10).map(|_| Vec::with_capacity(n)).collect();
    let mut labels = Vec::with_capacity(n);
    let names: Vec<Vec<String>> = (0..10)
        .map(|j| (0..3 + j % 8).map(|l| format!("level{l}")).collect())
        .collect();
    for _ in 0..n {
        let mut z = -1.0;
        for (j, col) in numeric.iter_mut().enumerate() {
            let x = (rng.unit() - 0.5) * 4.0 * (j + 1) as f64;
            z += x * 0.3 / (j + 1) as f64;
            col.push((rng.unit() >= 0.05).then_some(x));
        }
        for (j, col) in categorical.iter_mut().enumerate() {
            let levels = &names[j];
            let l = (rng.next() % levels.len() as u64) as usize;
            z += (l as f64 - levels.len() as f64 / 2.0) * 0.1;
            col.push((rng.unit() >= 0.05).then(|| levels[l].clone()));
        }
        labels.push(rng.unit() < 1.0 / (1.0 + (-z).exp()));
    }
    let mut table = Table::new(n);
    for (j, col) in numeric.into_iter().enumerate() {
        table = table.with_numeric(format!("n{j}"), col).unwrap();
    }
    for (j, col) in categorical.into_iter().enumerate() {
        table = table.with_categorical(format!("c{j}"), col).unwrap();
    }
    (table, labels)
}

fn bench(c: &mut Criterion) {
    let (table, labels) = synthetic(ROWS);
    let mut g = c.benchmark_group("predict_1M_rows_20_features");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROWS as u64));
    let nb = NaiveBayesOptions::default();
    let lr = LogisticOptions::default();
    g.bench_function("fit_naive_bayes", |b| {
        b.iter(|| black_box(Model::naive_bayes(&table, &labels, &nb).unwrap()))
    });
    g.bench_function("fit_logistic", |b| {
        b.iter(|| black_box(Model::logistic(&table, &labels, &lr).unwrap()))
    });
    let bayes = Model::naive_bayes(&table, &labels, &nb).unwrap();
    let logistic = Model::logistic(&table, &labels, &lr).unwrap();
    g.bench_function("predict_naive_bayes", |b| {
        b.iter(|| black_box(bayes.predict(&table).unwrap()))
    });
    g.bench_function("predict_logistic", |b| {
        b.iter(|| black_box(logistic.predict(&table).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
