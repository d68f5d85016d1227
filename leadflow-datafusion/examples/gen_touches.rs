//! A seeded generator of touch-level tables in Parquet (or CSV), the input
//! of `attribute_sql --touches`.
//!
//! ```sh
//! cargo run --release --example gen_touches -- JOURNEYS CHANNELS OUT.parquet|OUT.csv [--seed S]
//! ```
//!
//! Writes about 10 touches per journey (geometric lengths, mean 10) over
//! CHANNELS channels (`ch01` …), columns `journey` (Int64), `ts`
//! (timestamp, µs, UTC; CSV: seconds since the epoch), `channel`,
//! `conversions` (1 on the last touch of a converting journey, else 0)
//! and `value` (`DECIMAL(12, 2)`, the deal on the converting touch). Each
//! channel has its own effect on the conversion rate. Rows come journey by
//! journey, but a journey's touches are shuffled, as a table partitioned
//! by time would hold them. The same arguments always write the same file.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use datafusion::arrow::array::{
    Decimal128Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;

/// SplitMix64: small, fast, and good enough for synthetic data.
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

struct Touch {
    journey: i64,
    ts: i64,
    channel: usize,
    conversions: i64,
    value: Option<i128>,
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("journey", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("channel", DataType::Utf8, false),
        Field::new("conversions", DataType::Int64, false),
        Field::new("value", DataType::Decimal128(12, 2), true),
    ]))
}

fn batch(touches: &[Touch], names: &[String]) -> Result<RecordBatch, String> {
    let mut journey = Int64Builder::new();
    let mut ts = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut channel = StringBuilder::new();
    let mut conversions = Int64Builder::new();
    let mut value = Decimal128Builder::new();
    for t in touches {
        journey.append_value(t.journey);
        ts.append_value(t.ts);
        channel.append_value(&names[t.channel]);
        conversions.append_value(t.conversions);
        value.append_option(t.value);
    }
    let value = value
        .finish()
        .with_precision_and_scale(12, 2)
        .map_err(|e| e.to_string())?;
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(journey.finish()),
            Arc::new(ts.finish()),
            Arc::new(channel.finish()),
            Arc::new(conversions.finish()),
            Arc::new(value),
        ],
    )
    .map_err(|e| e.to_string())
}

/// One journey's touches, shuffled.
fn journey(rng: &mut Rng, id: i64, effects: &[f64]) -> Vec<Touch> {
    let mut touches = Vec::new();
    let mut at = 1_767_225_600_000_000 + (rng.next() % 31_536_000) as i64 * 1_000_000;
    let mut odds = -3.0;
    loop {
        let channel = (rng.next() % effects.len() as u64) as usize;
        odds += effects[channel];
        at += (rng.next() % 86_400) as i64 * 1_000_000;
        touches.push(Touch {
            journey: id,
            ts: at,
            channel,
            conversions: 0,
            value: None,
        });
        if rng.unit() < 0.1 {
            break;
        }
    }
    if rng.unit() < 1.0 / (1.0 + (-odds).exp())
        && let Some(last) = touches.last_mut()
    {
        last.conversions = 1;
        last.value = Some(i128::from(rng.next() % 5_000_000 + 10_000));
    }
    for i in (1..touches.len()).rev() {
        touches.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    touches
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: gen_touches JOURNEYS CHANNELS OUT.parquet|OUT.csv [--seed S]";
    let (journeys, channels, out) = match args.as_slice() {
        [j, c, o, ..] => (
            j.parse::<i64>().map_err(|_| usage.to_owned())?,
            c.parse::<usize>().ok().filter(|c| *c > 0).ok_or(usage)?,
            o.clone(),
        ),
        _ => return Err(usage.into()),
    };
    let seed = match args.get(3..) {
        Some([flag, s]) if flag == "--seed" => s.parse().map_err(|_| usage.to_owned())?,
        Some([]) => 7,
        _ => return Err(usage.into()),
    };
    let mut rng = Rng(seed);
    let effects: Vec<f64> = (0..channels).map(|_| rng.unit() * 0.6 - 0.1).collect();
    let names: Vec<String> = (1..=channels).map(|c| format!("ch{c:02}")).collect();
    let file = std::fs::File::create(&out).map_err(|e| format!("{out}: {e}"))?;
    let csv = out.ends_with(".csv");
    let mut writer = if csv {
        None
    } else {
        Some(
            ArrowWriter::try_new(file.try_clone().map_err(|e| e.to_string())?, schema(), None)
                .map_err(|e| e.to_string())?,
        )
    };
    let mut text = BufWriter::new(file);
    if csv {
        writeln!(text, "journey,ts,channel,conversions,value").map_err(|e| e.to_string())?;
    }
    let mut pending = Vec::new();
    for id in 0..journeys {
        pending.extend(journey(&mut rng, id, &effects));
        if pending.len() >= 65_536 || id + 1 == journeys {
            match &mut writer {
                Some(w) => w
                    .write(&batch(&pending, &names)?)
                    .map_err(|e| e.to_string())?,
                None => {
                    for t in &pending {
                        let v = t
                            .value
                            .map_or(String::new(), |v| format!("{}.{:02}", v / 100, v % 100));
                        writeln!(
                            text,
                            "{},{},{},{},{v}",
                            t.journey,
                            t.ts / 1_000_000,
                            names[t.channel],
                            t.conversions
                        )
                        .map_err(|e| e.to_string())?;
                    }
                }
            }
            pending.clear();
        }
    }
    if let Some(w) = writer {
        w.close().map_err(|e| e.to_string())?;
    }
    text.flush().map_err(|e| e.to_string())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
