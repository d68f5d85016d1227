//! The same query on a standalone Ballista cluster (an in-process
//! scheduler and executor, plans and partial states crossing gRPC and
//! Arrow Flight) and on a local session gives the same answer. Needs the
//! `ballista` feature: `cargo test --features ballista --test ballista`.
#![cfg(feature = "ballista")]

use std::io::Write;
use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::registry::FunctionRegistry;
use datafusion::prelude::{CsvReadOptions, SessionConfig, SessionContext};

const SQL: &str = "WITH journeys AS (
  SELECT touch_path(array_agg(struct(ts, channel))) AS path, sum(conversions) AS conversions,
         CASE WHEN sum(conversions) > 0 THEN 0 ELSE 1 END AS nulls,
         sum(value) AS value, min(ts) AS seen
  FROM touches GROUP BY journey)
SELECT unnest(attribute_paths(path, conversions, nulls, value, seen,
  '{\"models\": [\"first\", \"linear\", \"markov\", \"shapley\"], \"order\": 2}')) AS credit
FROM journeys";

async fn run(ctx: &SessionContext, file: &str) -> String {
    let schema = Schema::new(vec![
        Field::new("journey", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("conversions", DataType::Int64, true),
        Field::new("value", DataType::Decimal128(38, 2), true),
    ]);
    let options = CsvReadOptions::new().has_header(true).schema(&schema);
    ctx.register_csv("touches", file, options).await.unwrap();
    let batches = ctx.sql(SQL).await.unwrap().collect().await.unwrap();
    datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_cluster_answers_as_one_process() {
    let dir = std::env::temp_dir().join(format!("leadflow-ballista-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("touches.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    writeln!(out, "journey,ts,channel,conversions,value").unwrap();
    // 400 journeys over 5 channels, deterministic.
    let mut x: u64 = 7;
    for j in 0..400 {
        let len = 1 + j % 6;
        for i in 0..len {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let converted = i == len - 1 && j % 3 == 0;
            let value = if converted {
                format!("{}.{:02}", j * 7, j % 100)
            } else {
                String::new()
            };
            writeln!(
                out,
                "j{j},{},ch{},{},{value}",
                1000 + i,
                (x >> 33) % 5,
                u8::from(converted)
            )
            .unwrap();
        }
    }
    drop(out);
    let file = file.to_str().unwrap().to_owned();

    let local = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(3));
    leadflow_datafusion::register_all(&local);
    let want = run(&local, &file).await;

    // The executor takes its registry from this state.
    let mut state = SessionStateBuilder::new()
        .with_config(SessionConfig::new().with_target_partitions(3))
        .with_default_features()
        .build();
    for f in leadflow_datafusion::aggregate_functions() {
        state.register_udaf(Arc::new(f)).unwrap();
    }
    for f in leadflow_datafusion::scalar_functions() {
        state.register_udf(Arc::new(f)).unwrap();
    }
    let cluster = SessionContext::standalone_with_state(state).await.unwrap();
    // The client session starts from Ballista's own function list.
    leadflow_datafusion::register_all(&cluster);
    let got = run(&cluster, &file).await;
    assert!(want.contains("markov"), "{want}");
    assert_eq!(got, want);
    // The registry for an executor of one's own knows the functions.
    let registry = leadflow_datafusion::ballista_registry();
    assert!(registry.aggregate_functions.contains_key("attribute_paths"));
    assert!(registry.scalar_functions.contains_key("journey_credits"));
    let _ = std::fs::remove_dir_all(&dir);
}
