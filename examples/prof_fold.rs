use chrono::{TimeDelta, TimeZone, Utc};
use leadflow::{AttrValue, Engine, Event, EventBody};
use serde_json::json;
const LEADS: usize = 1_000;
const PER_LEAD: usize = 200;

/// `rules` rules spread evenly over `kinds` activity kinds, as real models
/// are: per kind, the first rule has no predicate (any page view) and the
/// others tell activities apart by a URL prefix, so an activity fires about
/// two rules. Every seventh rule has a one-day window.
fn config(rules: usize, kinds: usize, decay: bool) -> String {
    config_with_others(rules, kinds, 0, decay)
}

/// As [`config`], plus `others` rules for 195 kinds the stream never has.
fn config_with_others(rules: usize, kinds: usize, others: usize, decay: bool) -> String {
    let prefixes = [
        "/pricing", "/blog", "/docs", "/about", "/careers", "/product",
    ];
    let rules: Vec<_> = (0..rules)
        .map(|i| {
            let mut when = json!({"kind": format!("kind_{}", i % kinds)});
            let nth_of_kind = i / kinds;
            if nth_of_kind > 0 {
                let prefix = prefixes[(nth_of_kind - 1) % prefixes.len()];
                when["attrs"] = json!([{"attr": "url", "op": "starts_with", "value": prefix}]);
            }
            let group = ["a", "b", "c"][i % 3];
            let points = (i % 13) as f64 - 3.0;
            let mut rule =
                json!({"id": format!("r{i}"), "when": when, "points": points, "group": group});
            if i % 7 == 0 {
                rule["frequency"] = json!({"window": "1d"});
            }
            rule
        })
        .chain((0..others).map(|i| {
            json!({"id": format!("other{i}"), "points": 1,
                   "when": {"kind": format!("other_kind_{}", i % 195),
                            "attrs": [{"attr": "url", "op": "contains", "value": "x"}]}})
        }))
        .collect();
    let mut scoring = json!({
        "groups": [{"name": "a", "max": 500}, {"name": "b", "min": 0}, {"name": "c"}],
        "rules": rules,
    });
    if decay {
        scoring["decay"] = json!({"half_life": "30d"});
    }
    json!({
        "lifecycle": {"preset": "waterfall"},
        "scoring": scoring,
        "qualification": [{"id": "mql", "when": {"score": {"min": 150}, "stages": ["Anonymous", "Inquiry"]}, "then": "MQL"}]
    })
    .to_string()
}

/// Activities over the first `kinds` kinds, per lead, in time order.
fn stream(kinds: usize) -> Vec<Vec<Event>> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let urls = ["/pricing/team", "/blog/a", "/docs/b", "/pricing", "/about"];
    (0..LEADS)
        .map(|l| {
            let lead = format!("lead-{l:05}");
            (0..PER_LEAD)
                .map(|i| {
                    let mut attrs = leadflow::Attrs::new();
                    attrs.insert("url".into(), AttrValue::from(urls[(l + i) % urls.len()]));
                    Event::new(
                        format!("{lead}-{i:04}"),
                        lead.as_str(),
                        start + TimeDelta::minutes((i * 97 + l) as i64),
                        EventBody::Activity {
                            kind: format!("kind_{}", (i * 7 + l) % kinds),
                            channel: None,
                            campaign: None,
                            attrs,
                        },
                    )
                })
                .collect()
        })
        .collect()
}


fn main() {
    let decay = std::env::args().nth(1).as_deref() == Some("decay");
    let engine = Engine::from_json(&config(100, 20, decay)).unwrap();
    let data = stream(20);
    let mut s = 0.0;
    let mut n = 0;
    for _ in 0..20 {
        let copy = data.clone();
        let start = std::time::Instant::now();
        let leads: Vec<_> = copy.into_iter().enumerate().map(|(i, evs)| engine.replay(format!("lead-{i:05}"), evs)).collect();
        s += start.elapsed().as_secs_f64();
        n += leads.iter().map(|l| l.events().len()).sum::<usize>();
        drop(leads);
    }
    eprintln!("{n} events in {s:.3}s: {:.2} M/s", n as f64 / s / 1e6);
}
