//! The adapter's answers at 1, 2, 3 and 8 partitions equal the core's
//! single-pass answers exactly. Rows are cut into batches of one to three
//! rows dealt across the partitions, so one journey's touches (and one
//! lead's events) land in several partitions and DataFusion's shuffle and
//! state merges do the joining. The oracle is the core used the plain way:
//! one tally fed every row in table order.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, AsArray, Decimal128Array, Float64Array, ListArray, RecordBatch, StringArray,
    StructArray, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use leadflow::attribution::{
    Attributor, Journey, MarkovState, ModelConfig, PathModel, PathReadOptions, PathReader,
    PathTally, Touch,
};
use leadflow::funnel::{Funnel, FunnelOptions, FunnelReport, Granularity};
use leadflow::{Actor, Engine, Event, EventBody, Lead, ReasonCode, Source};
use leadflow_datafusion::money::from_decimal128;
use leadflow_datafusion::tables::read_path_table;
use proptest::prelude::*;
use rust_decimal::Decimal;

const PARTITIONS: [usize; 4] = [1, 2, 3, 8];

const ALL_MODELS: [PathModel; 8] = [
    PathModel::First,
    PathModel::Last,
    PathModel::Linear,
    PathModel::Position,
    PathModel::JShaped,
    PathModel::InverseJ,
    PathModel::Markov,
    PathModel::Shapley,
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// A session of `n` partitions with the adapter registered and `batches`
/// dealt round-robin over `n` partitions of table `name`.
fn session(n: usize, name: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> SessionContext {
    let config = SessionConfig::new()
        .with_target_partitions(n)
        .with_batch_size(4);
    let ctx = SessionContext::new_with_config(config);
    leadflow_datafusion::register_all(&ctx);
    let mut parts = vec![Vec::new(); n];
    for (i, b) in batches.into_iter().enumerate() {
        parts[i % n].push(b);
    }
    let table = MemTable::try_new(schema, parts).unwrap();
    ctx.register_table(name, Arc::new(table)).unwrap();
    ctx
}

async fn query(ctx: &SessionContext, sql: &str) -> datafusion::error::Result<Vec<RecordBatch>> {
    ctx.sql(sql).await?.collect().await
}

/// Small batches: every `k`-th row starts a new batch, k in 1..=3.
fn small_batches(batch: &RecordBatch) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut k = 1;
    while at < batch.num_rows() {
        let len = k.min(batch.num_rows() - at);
        out.push(batch.slice(at, len));
        at += len;
        k = k % 3 + 1;
    }
    out
}

// ---------------------------------------------------------------- paths

/// A path-table row: channels (as letters), conversions, nulls, value in
/// cents with its scale.
type Row = (Vec<u8>, u64, u64, Option<(i64, u32)>);

fn rows() -> impl Strategy<Value = Vec<Row>> {
    let row = (
        proptest::collection::vec(0u8..5, 1..6),
        0u64..4,
        0u64..3,
        proptest::option::of((0i64..100_000, 0u32..4)),
    );
    proptest::collection::vec(row, 1..40)
}

fn name(c: u8) -> String {
    ["email", "search", "social", "direct", "a,b \"quoted\""][c as usize].to_owned()
}

/// The rows as a CSV path table (values written with their scale).
fn csv(rows: &[Row], with_value: bool) -> String {
    let mut s = String::from(if with_value {
        "path,total_conversions,total_null,total_conversion_value\n"
    } else {
        "path,total_conversions,total_null\n"
    });
    for (path, c, n, v) in rows {
        let p: Vec<String> = path.iter().map(|&c| name(c).replace('"', "\"\"")).collect();
        s.push_str(&format!("\"{}\",{c},{n}", p.join(" > ")));
        if with_value {
            // The reader takes no empty value: a row without one says 0.
            let v = v.map_or("0".to_owned(), |(m, s)| Decimal::new(m, s).to_string());
            s.push_str(&format!(",{v}"));
        }
        s.push('\n');
    }
    s
}

/// Flattened credits: (model, channel, conversions, value).
type Credits = Vec<(String, String, f64, Option<Decimal>)>;

fn credits_of(batches: &[RecordBatch]) -> Credits {
    let mut out = Vec::new();
    for b in batches {
        let list = b.column(0).as_any().downcast_ref::<ListArray>().unwrap();
        for r in 0..list.len() {
            let items = list.value(r);
            let s = items.as_any().downcast_ref::<StructArray>().unwrap();
            let model = s.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            let channel = s.column(1).as_any().downcast_ref::<StringArray>().unwrap();
            let conv = s.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
            let value = s
                .column(3)
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap();
            for i in 0..s.len() {
                out.push((
                    model.value(i).to_owned(),
                    channel.value(i).to_owned(),
                    conv.value(i),
                    value
                        .is_valid(i)
                        .then(|| from_decimal128(value.value(i), value.scale()).unwrap()),
                ));
            }
        }
    }
    out
}

/// The core in one pass over the CSV, as a flat list (or its error).
fn core_credits(text: &str, order: usize) -> Result<Credits, String> {
    let mut tally = PathTally::new(&ALL_MODELS, order).unwrap();
    let mut reader = PathReader::new(text.as_bytes(), PathReadOptions::default()).unwrap();
    tally.read(&mut reader).unwrap();
    let report = tally.finish().map_err(|e| e.to_string())?;
    Ok(report
        .models
        .iter()
        .flat_map(|(m, cs)| {
            cs.iter().map(|c| {
                (
                    m.name().to_owned(),
                    c.channel.clone(),
                    c.conversions,
                    c.value,
                )
            })
        })
        .collect())
}

fn paths_sql(with_value: bool, order: usize, scale: Option<i8>) -> String {
    let scale = scale.map_or(String::new(), |s| format!(", \"scale\": {s}"));
    let models: Vec<String> = ALL_MODELS
        .iter()
        .map(|m| format!("\"{}\"", m.name()))
        .collect();
    format!(
        "SELECT attribute_paths(path, total_conversions, total_null, {}, seen, \
         '{{\"models\": [{}], \"order\": {order}{scale}}}') FROM paths",
        if with_value {
            "total_conversion_value"
        } else {
            "NULL"
        },
        models.join(", ")
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn path_models_at_any_partitioning_equal_the_single_pass(
        rows in rows(), with_value in any::<bool>(), order in 1usize..4,
    ) {
        let text = csv(&rows, with_value);
        let expected = core_credits(&text, order);
        let reader = PathReader::new(text.as_bytes(), PathReadOptions::default()).unwrap();
        let table = read_path_table(reader, 1 << 20).unwrap();
        let batches: Vec<RecordBatch> = table.batches.iter().flat_map(small_batches).collect();
        let rt = runtime();
        for n in PARTITIONS {
            let ctx = session(n, "paths", table.schema.clone(), batches.clone());
            let got = rt.block_on(query(&ctx, &paths_sql(with_value, order, table.credit_scale)));
            match (&expected, got) {
                (Ok(want), Ok(got)) => {
                    let got = credits_of(&got);
                    prop_assert_eq!(got.len(), want.len());
                    for (g, w) in got.iter().zip(want) {
                        // Same row, bit for bit; decimals compare by value
                        // (the column holds them at the table's scale).
                        prop_assert_eq!((&g.0, &g.1, g.2.to_bits(), g.3), (&w.0, &w.1, w.2.to_bits(), w.3), "{} partitions", n);
                    }
                }
                (Err(want), Err(got)) => {
                    let e = leadflow_datafusion::AdapterError::find(&got).map(|e| e.to_string());
                    prop_assert_eq!(e.as_deref(), Some(want.as_str()));
                }
                (want, got) => prop_assert!(false, "{n} partitions: core {want:?}, adapter {got:?}"),
            }
        }
    }
}

// ------------------------------------------------------------ journeys

/// A touch: (journey, hour, channel); journeys convert at a given hour
/// with a value in cents, or not.
type Touches = (Vec<(u8, i64, u8)>, Vec<Option<(i64, i64)>>);

fn touches() -> impl Strategy<Value = Touches> {
    (
        proptest::collection::vec((0u8..6, 0i64..30, 0u8..4), 1..60),
        proptest::collection::vec(proptest::option::of((0i64..40, 0i64..1_000_000)), 6),
    )
}

fn hour(h: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_767_258_000 + h * 3600, 0).unwrap()
}

fn touch_table(t: &Touches) -> (SchemaRef, RecordBatch) {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    let schema = Arc::new(Schema::new(vec![
        Field::new("journey", DataType::Utf8, false),
        Field::new("ts", ts.clone(), false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("converted_at", ts, true),
        Field::new("value", DataType::Decimal128(12, 2), true),
    ]));
    let (rows, conv) = t;
    let journey: StringArray = rows.iter().map(|r| Some(format!("j{}", r.0))).collect();
    let at: Vec<i64> = rows.iter().map(|r| hour(r.1).timestamp_micros()).collect();
    let channel: StringArray = rows.iter().map(|r| Some(name(r.2))).collect();
    let c_at: Vec<Option<i64>> = rows
        .iter()
        .map(|r| conv[r.0 as usize].map(|c| hour(c.0).timestamp_micros()))
        .collect();
    let value: Decimal128Array = rows
        .iter()
        .map(|r| conv[r.0 as usize].map(|c| i128::from(c.1)))
        .collect::<Decimal128Array>()
        .with_precision_and_scale(12, 2)
        .unwrap();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(journey),
            Arc::new(datafusion::arrow::array::TimestampMicrosecondArray::from(
                at,
            )),
            Arc::new(channel),
            Arc::new(datafusion::arrow::array::TimestampMicrosecondArray::from(
                c_at,
            )),
            Arc::new(value),
        ],
    )
    .unwrap();
    (schema, batch)
}

/// Per journey (sorted by id): the credits as (touch, channel,
/// conversions, value).
type JourneyCredits = Vec<(String, Vec<(u32, String, f64, Decimal)>)>;

fn core_journeys(t: &Touches, model: &ModelConfig) -> JourneyCredits {
    let model = model.build().unwrap();
    let mut out = Vec::new();
    for j in 0..6u8 {
        let mut mine: Vec<(i64, String)> =
            t.0.iter()
                .filter(|r| r.0 == j)
                .map(|r| (r.1, name(r.2)))
                .collect();
        if mine.is_empty() {
            continue;
        }
        // The SQL orders touches by (ts, channel).
        mine.sort();
        let mut journey = Journey::new(
            mine.into_iter()
                .map(|(h, c)| Touch::new(hour(h), c))
                .collect(),
        );
        if let Some((h, cents)) = t.1[j as usize] {
            journey = journey.converted(hour(h), Decimal::new(cents, 2));
        }
        let credits = Attributor::new()
            .credit(&journey, model.as_ref())
            .unwrap()
            .into_iter()
            .map(|c| (c.touch as u32, c.channel, c.conversions, c.value))
            .collect();
        out.push((format!("j{j}"), credits));
    }
    out
}

fn journeys_of(batches: &[RecordBatch]) -> JourneyCredits {
    let mut out = Vec::new();
    for b in batches {
        let ids = b.column(0).as_string::<i32>();
        let list = b.column(1).as_any().downcast_ref::<ListArray>().unwrap();
        for r in 0..b.num_rows() {
            let items = list.value(r);
            let s = items.as_any().downcast_ref::<StructArray>().unwrap();
            let touch = s.column(0).as_any().downcast_ref::<UInt32Array>().unwrap();
            let channel = s.column(1).as_string::<i32>();
            let conv = s.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
            let value = s
                .column(3)
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap();
            let credits = (0..s.len())
                .map(|i| {
                    (
                        touch.value(i),
                        channel.value(i).to_owned(),
                        conv.value(i),
                        from_decimal128(value.value(i), value.scale()).unwrap(),
                    )
                })
                .collect();
            out.push((ids.value(r).to_owned(), credits));
        }
    }
    out
}

const JOURNEY_SQL: &str =
    "SELECT journey, journey_credits(channels, times, converted_at, value, '{config}') FROM (
    SELECT journey,
           array_agg(channel ORDER BY ts, channel) AS channels,
           array_agg(ts ORDER BY ts, channel) AS times,
           max(converted_at) AS converted_at, max(value) AS value
    FROM touches GROUP BY journey) ORDER BY journey";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn journey_credits_at_any_partitioning_equal_the_core(t in touches(), pick in 0usize..5) {
        let configs = [
            r#"{"model": "linear"}"#,
            r#"{"model": "position", "ends": 0.3}"#,
            r#"{"model": "time_decay", "half_life": "1d"}"#,
            r#"{"model": "w"}"#,
            r#"{"model": "last_non_direct"}"#,
        ];
        let config = configs[pick];
        let want = core_journeys(&t, &serde_json::from_str(config).unwrap());
        let (schema, batch) = touch_table(&t);
        let rt = runtime();
        for n in PARTITIONS {
            let ctx = session(n, "touches", schema.clone(), small_batches(&batch));
            let got = rt.block_on(query(&ctx, &JOURNEY_SQL.replace("{config}", config))).unwrap();
            let got = journeys_of(&got);
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!(&g.0, &w.0);
                prop_assert_eq!(g.1.len(), w.1.len());
                for (a, b) in g.1.iter().zip(&w.1) {
                    prop_assert_eq!((a.0, &a.1, a.2.to_bits(), a.3), (b.0, &b.1, b.2.to_bits(), b.3));
                    // The money column keeps the value's own scale.
                    prop_assert_eq!(a.3.scale(), b.3.scale());
                }
            }
        }
    }

    /// Transition counts from SQL, normalized per state, are the fitted
    /// chain's probabilities; and each walk is the windows by hand.
    #[test]
    fn markov_transitions_count_to_the_fitted_chain(t in touches(), order in 1usize..4) {
        let (schema, batch) = touch_table(&t);
        let rt = runtime();
        let sql = format!("SELECT s['from'], s['to'], count(*) FROM (
            SELECT unnest(markov_transitions(path, {order}, converted)) AS s FROM (
              SELECT touch_path(array_agg(struct(ts, channel))) AS path, max(converted_at) IS NOT NULL AS converted
              FROM touches GROUP BY journey)) GROUP BY 1, 2");
        // The core: one row per journey, weight 1.
        let mut tally = PathTally::new(&[PathModel::Markov], order).unwrap();
        let mut any_conversion = false;
        for j in 0..6u8 {
            let mut mine: Vec<(i64, String)> = t.0.iter().filter(|r| r.0 == j).map(|r| (r.1, name(r.2))).collect();
            if mine.is_empty() { continue; }
            mine.sort();
            let converted = t.1[j as usize].is_some();
            any_conversion |= converted;
            let path: Vec<String> = mine.into_iter().map(|m| m.1).collect();
            // The walk by hand: windows of `order`, repeats collapsed.
            let mut by_hand = vec!["(start)".to_owned()];
            let windows: Vec<String> = if path.len() <= order { vec![path.join(" > ")] }
                else { path.windows(order).map(|w| w.join(" > ")).collect() };
            for w in windows { if by_hand.last() != Some(&w) { by_hand.push(w); } }
            by_hand.push(if converted { "(conversion)" } else { "(null)" }.into());
            let walk: Vec<String> = MarkovState::walk(&path, order, converted).iter().map(|s| s.to_string()).collect();
            prop_assert_eq!(walk, by_hand);
            tally.add(path.iter().map(String::as_str), u64::from(converted), u64::from(!converted), None);
        }
        prop_assume!(any_conversion);
        let chain = tally.markov().unwrap().unwrap();
        for n in PARTITIONS {
            let ctx = session(n, "touches", schema.clone(), small_batches(&batch));
            let got = rt.block_on(query(&ctx, &sql)).unwrap();
            let mut counts = std::collections::BTreeMap::<(String, String), i64>::new();
            for b in &got {
                let (f, to) = (b.column(0).as_string::<i32>(), b.column(1).as_string::<i32>());
                let c = b.column(2).as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                for i in 0..b.num_rows() {
                    counts.insert((f.value(i).to_owned(), to.value(i).to_owned()), c.value(i));
                }
            }
            for edge in chain.transitions() {
                let (from, to) = (edge.from.to_string(), edge.to.to_string());
                let out: i64 = counts.iter().filter(|(k, _)| k.0 == from).map(|(_, v)| v).sum();
                let c = counts.get(&(from.clone(), to.clone())).copied().unwrap_or(0);
                prop_assert!(out > 0, "{from} has no transitions in SQL");
                prop_assert!((c as f64 / out as f64 - edge.probability).abs() < 1e-12,
                    "{from} -> {to}: {c}/{out} vs {}", edge.probability);
            }
        }
    }
}

// --------------------------------------------------------------- funnel

fn funnel_body() -> impl Strategy<Value = EventBody> {
    let stage = proptest::sample::select(vec![
        "Anonymous",
        "MQL",
        "SQL",
        "Opportunity",
        "Won",
        "Lost",
    ]);
    prop_oneof![
        1 => stage.clone().prop_map(|s| EventBody::Created { stage: s.into(), source: Source::Sales, actor: Actor::Sales }),
        3 => stage.clone().prop_map(|s| EventBody::Advanced { to: s.into(), actor: Actor::Sales,
            reason: Some(leadflow::Reason::new(ReasonCode::Competitor)) }),
        1 => Just(EventBody::Recycled { actor: Actor::Sales, reason: leadflow::Reason::new(ReasonCode::Timing) }),
        1 => (0..5000i64).prop_map(|c| serde_json::from_value::<EventBody>(
            serde_json::json!({"type": "deal", "amount": format!("{}.{:02}", c, c % 100)})).unwrap()),
    ]
}

fn events() -> impl Strategy<Value = Vec<Event>> {
    proptest::collection::vec((0..6usize, 0..80i64, funnel_body()), 0..50).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (l, h, body))| {
                Event::new(
                    format!("e{i}"),
                    format!("lead{l}").as_str(),
                    hour(h * 20),
                    body,
                )
            })
            .collect()
    })
}

const ENGINE: &str = r#"{"lifecycle": {"preset": "default"}}"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn the_funnel_report_at_any_partitioning_equals_the_single_pass(evs in events(), weekly in any::<bool>()) {
        let engine = Engine::from_json(ENGINE).unwrap();
        let options = FunnelOptions::new(hour(0), hour(1200), hour(1500))
            .by(if weekly { Granularity::Week } else { Granularity::Month });
        let funnel = Funnel::new(&engine, options.clone()).unwrap();
        // The core: every lead replayed from its events, one tally.
        let mut ids: Vec<String> = evs.iter().map(|e| e.lead.as_str().to_owned()).collect();
        ids.sort();
        ids.dedup();
        let leads: Vec<Lead> = ids.iter().map(|id| {
            engine.replay(id.as_str(), evs.iter().filter(|e| e.lead.as_str() == id).cloned())
        }).collect();
        let want = funnel.report(&funnel.tally(&leads));

        let schema = Arc::new(Schema::new(vec![
            Field::new("lead", DataType::Utf8, false),
            Field::new("event", DataType::Utf8, false),
        ]));
        let lead: StringArray = evs.iter().map(|e| Some(e.lead.as_str().to_owned())).collect();
        let event: StringArray = evs.iter().map(|e| Some(serde_json::to_string(e).unwrap())).collect();
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(lead), Arc::new(event)]).unwrap();
        let config = serde_json::json!({"engine": serde_json::from_str::<serde_json::Value>(ENGINE).unwrap(), "options": options});
        let sql = format!(
            "SELECT funnel_report(lead, events, '{config}') FROM \
             (SELECT lead, array_agg(event) AS events FROM events GROUP BY lead)");
        let rt = runtime();
        for n in PARTITIONS {
            let ctx = session(n, "events", schema.clone(), small_batches(&batch));
            let got = rt.block_on(query(&ctx, &sql)).unwrap();
            let json = got[0].column(0).as_string::<i32>().value(0).to_owned();
            let got: FunnelReport = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&got, &want, "{} partitions", n);
        }
    }
}
