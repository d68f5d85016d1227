//! Hostile inputs get typed errors that name the function and the
//! argument or row, never a panic or a rounded value; and the partitioned
//! plans really do merge partial states.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, Int64Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use leadflow_datafusion::AdapterError;
use leadflow_datafusion::money::{MoneyError, at_scale, from_decimal128, to_decimal128};
use rust_decimal::Decimal;

fn ctx(partitions: usize) -> SessionContext {
    let ctx =
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    leadflow_datafusion::register_all(&ctx);
    ctx
}

/// The error a query ends in, as the adapter's error text.
async fn fails(ctx: &SessionContext, sql: &str) -> String {
    let result = match ctx.sql(sql).await {
        Ok(df) => df.collect().await.map(|_| ()),
        Err(e) => Err(e),
    };
    let e = result.expect_err(sql);
    AdapterError::find(&e).map_or_else(|| format!("not an adapter error: {e}"), |a| a.to_string())
}

const CONFIG: &str = r#"'{"models": ["linear"]}'"#;

#[tokio::test]
async fn arguments_of_the_wrong_type_or_number_are_named() {
    let c = ctx(1);
    let e = fails(
        &c,
        &format!("SELECT attribute_paths(['a'], 1, 0, 1.5, 1, {CONFIG})"),
    )
    .await;
    assert!(e.contains("argument 4 (value) must be a DECIMAL"), "{e}");
    assert!(e.contains("money is exact"), "{e}");
    let e = fails(
        &c,
        &format!("SELECT attribute_paths('a', 1, 0, NULL, 1, {CONFIG})"),
    )
    .await;
    assert!(
        e.contains("argument 1 (path) must be a list of strings"),
        "{e}"
    );
    let e = fails(&c, "SELECT attribute_paths(['a'], 1)").await;
    assert!(e.contains("attribute_paths takes 6 arguments"), "{e}");
    let e = fails(
        &c,
        "SELECT journey_credits(['a'], [1], NULL, 1, '{\"model\": \"linear\"}')",
    )
    .await;
    assert!(
        e.contains("argument 2 (times) must be a list of timestamps"),
        "{e}"
    );
    let e = fails(&c, "SELECT markov_transitions(['a'], 1, 'yes')").await;
    assert!(
        e.contains("argument 3 (converted) must be a boolean"),
        "{e}"
    );
    let e = fails(&c, "SELECT funnel_report('ada', 'x', '{}')").await;
    assert!(
        e.contains("argument 2 (events) must be a list of strings"),
        "{e}"
    );
}

#[tokio::test]
async fn configs_must_be_constant_and_read() {
    let c = ctx(1);
    let e = fails(
        &c,
        "SELECT attribute_paths(['a'], 1, 0, NULL, 1, '{\"models\": [\"linear\"], \"ordre\": 2}')",
    )
    .await;
    assert!(
        e.contains("attribute_paths: the config does not read: unknown field `ordre`"),
        "{e}"
    );
    let e = fails(
        &c,
        "SELECT attribute_paths(['a'], 1, 0, NULL, 1, '{\"models\": [\"markov\"], \"order\": 0}')",
    )
    .await;
    assert!(e.contains("markov order must be between 1 and 32"), "{e}");
    let e = fails(
        &c,
        "SELECT attribute_paths(p, 1, 0, NULL, 1, c) FROM (VALUES (['a'], '{}')) AS t(p, c)",
    )
    .await;
    assert!(
        e.contains("(argument 6) must be a constant string of JSON"),
        "{e}"
    );
    let e = fails(
        &c,
        "SELECT journey_credits(['a'], [now()], now(), 1, '{\"model\": \"nope\"}')",
    )
    .await;
    assert!(
        e.contains("journey_credits: the config does not read"),
        "{e}"
    );
    let e = fails(
        &c,
        "SELECT funnel_report('ada', ['{}'], '{\"engine\": {}, \"options\": 1}')",
    )
    .await;
    assert!(e.contains("funnel_report: the config does not read"), "{e}");
    // A split scale finer than the column can hold.
    let e = fails(&c, "SELECT attribute_paths(['a'], 1, 0, CAST(1 AS DECIMAL(10, 2)), 1, '{\"models\": [\"linear\"], \"scale\": 3}')").await;
    assert!(
        e.contains("scale 3 must be between 0 and the value column's scale 2"),
        "{e}"
    );
}

#[tokio::test]
async fn bad_rows_are_named() {
    let c = ctx(1);
    let e = fails(
        &c,
        &format!("SELECT attribute_paths(['a'], -1, 0, NULL, 1, {CONFIG})"),
    )
    .await;
    assert!(e.contains("conversions must be at least 0, not -1"), "{e}");
    let e = fails(
        &c,
        &format!("SELECT attribute_paths(['a', NULL], 1, 0, NULL, 1, {CONFIG})"),
    )
    .await;
    assert!(e.contains("the path holds a NULL channel"), "{e}");
    // A converting value with more places than the split scale.
    let e = fails(&c, "SELECT attribute_paths(['a'], 1, 0, CAST(1.25 AS DECIMAL(10, 2)), 1, '{\"models\": [\"linear\"], \"scale\": 1}')").await;
    assert!(e.contains("1.25 has more than 1 decimal places"), "{e}");
    let e = fails(
        &c,
        "SELECT journey_credits(['a', 'b'], [now()], now(), 1, '{\"model\": \"linear\"}')",
    )
    .await;
    assert!(e.contains("2 channels but 1 times"), "{e}");
    let ev = r#"{"id": "e1", "lead": "bob", "at": "2026-03-02T09:00:00Z", "body": {"type": "created", "stage": "MQL", "source": "marketing", "actor": "marketing"}}"#;
    let e = fails(&c, &format!("SELECT funnel_report('ada', ['{ev}'], '{{\"engine\": {{\"lifecycle\": {{\"preset\": \"default\"}}}}, \"options\": {{\"from\": \"2026-01-01T00:00:00Z\", \"to\": \"2026-12-01T00:00:00Z\", \"as_of\": \"2026-12-01T00:00:00Z\", \"by\": \"month\", \"first_cycle_only\": false, \"cut\": \"none\"}}}}')")).await;
    assert!(
        e.contains("lead \"ada\", event 1: it names lead \"bob\""),
        "{e}"
    );
}

#[tokio::test]
async fn the_core_refusing_to_attribute_is_its_error() {
    // Markov with no conversion: the core's own error, through SQL.
    let e = fails(
        &ctx(1),
        "SELECT attribute_paths(['a'], 0, 1, NULL, 1, '{\"models\": [\"markov\"]}')",
    )
    .await;
    assert!(
        e.contains("no path converted") || e.contains("convert"),
        "{e}"
    );
}

#[test]
fn money_crosses_exactly_or_not_at_all() {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    assert_eq!(to_decimal128(d("12.30"), 2), Ok(1230));
    assert_eq!(to_decimal128(d("12.300"), 2), Ok(1230)); // trailing zeros
    assert_eq!(to_decimal128(d("-0.5"), 3), Ok(-500));
    assert!(matches!(
        to_decimal128(d("0.125"), 2),
        Err(MoneyError::TooFine { .. })
    ));
    // 29 digits at scale 10 need 39 digits.
    let big = d("79228162514264337593543950335");
    assert!(matches!(
        to_decimal128(big, 10),
        Err(MoneyError::TooLarge { .. })
    ));
    assert_eq!(from_decimal128(to_decimal128(big, 9).unwrap(), 9), Ok(big));
    assert!(matches!(
        from_decimal128(10i128.pow(37), 0),
        Err(MoneyError::OutOfRange { .. })
    ));
    assert!(matches!(
        to_decimal128(d("1"), -1),
        Err(MoneyError::Scale { scale: -1 })
    ));
    assert!(matches!(
        to_decimal128(d("1"), 29),
        Err(MoneyError::Scale { scale: 29 })
    ));
    assert_eq!(at_scale(d("5"), 2).unwrap().to_string(), "5.00");
    assert_eq!(at_scale(d("5.10"), 1).unwrap().to_string(), "5.1");
}

#[tokio::test]
async fn partitioned_plans_merge_partial_states() {
    // Two partitions of paths: the plan aggregates in two phases, so the
    // equality tests exercise `state` and `merge_batch`.
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "path",
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            true,
        ),
        Field::new("n", DataType::Int64, false),
    ]));
    let batch = |names: &[&str]| {
        let mut b = ListBuilder::new(StringBuilder::new());
        for n in names {
            b.values().append_value(n);
            b.append(true);
        }
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(b.finish()),
                Arc::new(Int64Array::from(vec![1; names.len()])),
            ],
        )
        .unwrap()
    };
    let c = ctx(2);
    let table = MemTable::try_new(
        schema.clone(),
        vec![vec![batch(&["a"])], vec![batch(&["b", "a"])]],
    )
    .unwrap();
    c.register_table("p", Arc::new(table)).unwrap();
    let sql = format!("SELECT attribute_paths(path, n, 0, NULL, n, {CONFIG}) FROM p");
    let plan = c
        .sql(&format!("EXPLAIN {sql}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
        .unwrap()
        .to_string();
    assert!(
        text.contains("mode=Partial") && text.contains("mode=Final"),
        "{text}"
    );
    let rows = c
        .sql(&format!(
            "SELECT unnest({})['channel'] FROM (SELECT ({sql}) AS x) ",
            "x"
        ))
        .await;
    // Field access through unnest: channels by first appearance (seen is 1
    // for every row, so by position, then name).
    let got = rows.unwrap().collect().await.unwrap();
    let names: Vec<String> = got
        .iter()
        .flat_map(|b| {
            let a = b
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            (0..a.len()).map(move |i| a.value(i).to_owned())
        })
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[tokio::test]
async fn nanosecond_touch_times_keep_their_order_and_eligibility() {
    // a at +900 ns comes after the conversion at +500 ns: only b earns.
    let c = ctx(1);
    let sql = "SELECT unnest(journey_credits(make_array('a', 'b'),
        make_array(arrow_cast(1767258000000000900, 'Timestamp(Nanosecond, None)'),
                   arrow_cast(1767258000000000100, 'Timestamp(Nanosecond, None)')),
        arrow_cast(1767258000000000500, 'Timestamp(Nanosecond, None)'),
        CAST(10.00 AS DECIMAL(10, 2)), '{\"model\": \"linear\"}'))['channel']";
    let got = c.sql(sql).await.unwrap().collect().await.unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&got)
        .unwrap()
        .to_string();
    assert!(text.contains("| b ") && !text.contains("| a "), "{text}");
}

#[tokio::test]
async fn a_lead_on_two_rows_is_refused_not_counted_twice() {
    let ev = |id: &str, day: u32, body: &str| {
        format!(
            r#"{{"id": "{id}", "lead": "ada", "at": "2026-01-0{day}T09:00:00Z", "body": {body}}}"#
        )
    };
    let created = ev(
        "e1",
        2,
        r#"{"type": "created", "stage": "MQL", "source": "marketing", "actor": "marketing"}"#,
    );
    let advanced = ev(
        "e2",
        5,
        r#"{"type": "advanced", "to": "SQL", "actor": "sales"}"#,
    );
    let config = r#"{"engine": {"lifecycle": {"preset": "default"}}, "options": {"from": "2026-01-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "as_of": "2026-12-01T00:00:00Z", "by": "month", "first_cycle_only": false, "cut": "none"}}"#;
    let sql = format!(
        "SELECT funnel_report(lead, make_array(event), '{config}') FROM (VALUES ('ada', '{created}'), ('ada', '{advanced}')) AS t(lead, event)"
    );
    let e = fails(&ctx(1), &sql).await;
    assert!(e.contains("lead \"ada\" is on more than one row"), "{e}");
}
