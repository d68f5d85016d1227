//! Throughput of the adapter's aggregate through DataFusion: path-table
//! rows per second into `attribute_paths` (heuristics and Markov), and
//! touches per second from a touch table through `array_agg` and
//! `attribute_paths`, at 1 and 2 partitions. The tables are in memory
//! (`MemTable`), so the figures are the query's cost, not the disk's.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{Int64Array, ListBuilder, RecordBatch, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

const PATHS: usize = 200_000;
const JOURNEYS: usize = 100_000;

/// SplitMix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn channel(state: &mut u64) -> String {
    format!("ch{:02}", next(state) % 10)
}

/// `PATHS` paths of 1–8 channels, in batches of 8 192 rows.
fn paths() -> (SchemaRef, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "path",
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            true,
        ),
        Field::new("conversions", DataType::Int64, false),
        Field::new("seen", DataType::Int64, false),
    ]));
    let mut s = 1;
    let mut batches = Vec::new();
    for start in (0..PATHS).step_by(8192) {
        let n = 8192.min(PATHS - start);
        let mut path = ListBuilder::new(StringBuilder::new());
        for _ in 0..n {
            for _ in 0..1 + next(&mut s) % 8 {
                path.values().append_value(channel(&mut s));
            }
            path.append(true);
        }
        let conv: Int64Array = (0..n).map(|_| (next(&mut s) % 3) as i64).collect();
        let seen: Int64Array = (start..start + n).map(|i| i as i64).collect();
        batches.push(
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(path.finish()), Arc::new(conv), Arc::new(seen)],
            )
            .unwrap(),
        );
    }
    (schema, batches)
}

/// `JOURNEYS` journeys of about 10 touches, rows shuffled across batches.
fn touches() -> (SchemaRef, Vec<RecordBatch>, usize) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("journey", DataType::Int64, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("conversions", DataType::Int64, false),
    ]));
    let mut s = 2;
    let mut rows = Vec::new();
    for j in 0..JOURNEYS as i64 {
        let len = 1 + next(&mut s) % 19;
        for i in 0..len {
            let converted = i + 1 == len && next(&mut s).is_multiple_of(4);
            rows.push((j, i as i64 * 60, channel(&mut s), i64::from(converted)));
        }
    }
    for i in (1..rows.len()).rev() {
        rows.swap(i, (next(&mut s) % (i as u64 + 1)) as usize);
    }
    let total = rows.len();
    let batches = rows
        .chunks(8192)
        .map(|c| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(c.iter().map(|r| r.0).collect::<Int64Array>()),
                    Arc::new(c.iter().map(|r| r.1).collect::<Int64Array>()),
                    Arc::new(c.iter().map(|r| Some(r.2.clone())).collect::<StringArray>()),
                    Arc::new(c.iter().map(|r| r.3).collect::<Int64Array>()),
                ],
            )
            .unwrap()
        })
        .collect();
    (schema, batches, total)
}

fn session(n: usize, name: &str, schema: SchemaRef, batches: &[RecordBatch]) -> SessionContext {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(n));
    leadflow_datafusion::register_all(&ctx);
    let mut parts = vec![Vec::new(); n];
    for (i, b) in batches.iter().enumerate() {
        parts[i % n].push(b.clone());
    }
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, parts).unwrap()))
        .unwrap();
    ctx
}

fn run(rt: &tokio::runtime::Runtime, ctx: &SessionContext, sql: &str) {
    let rows = rt.block_on(async { ctx.sql(sql).await.unwrap().collect().await.unwrap() });
    assert_eq!(rows.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
}

const CONFIG: &str = r#"'{"models": ["first", "last", "linear", "position", "markov"]}'"#;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().build().unwrap();
    let mut group = c.benchmark_group("sql");
    group.sample_size(10);
    let (schema, batches) = paths();
    group.throughput(Throughput::Elements(PATHS as u64));
    for n in [1, 2] {
        let ctx = session(n, "paths", schema.clone(), &batches);
        let sql = format!(
            "SELECT attribute_paths(path, conversions, 1, NULL, seen, {CONFIG}) FROM paths"
        );
        group.bench_function(format!("attribute_paths/{n}_partitions"), |b| {
            b.iter(|| run(&rt, &ctx, &sql))
        });
    }
    let (schema, batches, total) = touches();
    group.throughput(Throughput::Elements(total as u64));
    for n in [1, 2] {
        let ctx = session(n, "touches", schema.clone(), &batches);
        let sql = format!(
            "SELECT attribute_paths(path, c, CASE WHEN c > 0 THEN 0 ELSE 1 END, NULL, seen, {CONFIG}) FROM (
               SELECT touch_path(array_agg(struct(ts, channel))) AS path, sum(conversions) AS c, min(ts) AS seen
               FROM touches GROUP BY journey)"
        );
        group.bench_function(format!("touches/{n}_partitions"), |b| {
            b.iter(|| run(&rt, &ctx, &sql))
        });
        if std::env::var_os("LEADFLOW_BENCH_PARTS").is_some() {
            for (name, q) in [
                (
                    "ordered_array_agg_only",
                    "SELECT sum(cardinality(p)) FROM (SELECT array_agg(channel ORDER BY ts, channel) AS p FROM touches GROUP BY journey)",
                ),
                (
                    "touch_path_only",
                    "SELECT sum(cardinality(p)) FROM (SELECT touch_path(array_agg(struct(ts, channel))) AS p FROM touches GROUP BY journey)",
                ),
                (
                    "plain_array_agg_only",
                    "SELECT sum(cardinality(p)) FROM (SELECT array_agg(channel) AS p FROM touches GROUP BY journey)",
                ),
                (
                    "group_by_only",
                    "SELECT sum(m) FROM (SELECT min(ts) AS m FROM touches GROUP BY journey)",
                ),
            ] {
                group.bench_function(format!("{name}/{n}_partitions"), |b| {
                    b.iter(|| run(&rt, &ctx, q))
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
