//! The shipped example data: the config compiles, every event line parses,
//! and the story the data tells comes out of the engine.

use leadflow::{Engine, Event, LeadStore, ReasonCode};

fn load() -> (Engine, Vec<Event>) {
    let root = env!("CARGO_MANIFEST_DIR");
    let config = std::fs::read_to_string(format!("{root}/examples/data/engine.json")).unwrap();
    let engine = Engine::from_json(&config).unwrap();
    let events = std::fs::read_to_string(format!("{root}/examples/data/events.ndjson"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}", i + 1)))
        .collect();
    (engine, events)
}

#[test]
fn example_data_tells_its_story() {
    let (engine, events) = load();
    let total = events.len();
    let distinct: std::collections::HashSet<_> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(
        total,
        distinct.len() + 1,
        "the stream carries one duplicate on purpose"
    );
    let mut store = LeadStore::new(engine.clone());
    store.ingest_all(events);
    assert_eq!(store.len(), 10, "ten leads; visitors merged into them");
    let lc = engine.lifecycle();
    let stage = |id: &str| {
        lc.name(store.lead(&id.into()).unwrap().stage().current())
            .to_owned()
    };
    assert_eq!(stage("ada@acme.test"), "SQL");
    assert_eq!(stage("carol@initech.test"), "Won");
    assert_eq!(stage("grace@stark.test"), "Won");
    assert_eq!(stage("ivan@wayne.test"), "Disqualified");
    assert_eq!(stage("erin@smallshop.test"), "Inquiry");
    let bob = store.lead(&"bob@globex.test".into()).unwrap();
    assert_eq!(bob.stage().cycle(), 2, "bob was recycled by sales");
    let recycle = bob.history().iter().find(|t| {
        t.reason
            .as_ref()
            .is_some_and(|r| r.code == ReasonCode::NoBudget)
    });
    assert!(recycle.is_some());
    let ivan = store.lead(&"ivan@wayne.test".into()).unwrap();
    assert_eq!(
        ivan.history().last().unwrap().reason.as_ref().unwrap().code,
        ReasonCode::PoorFit
    );
    // Negative points and decay are both at work somewhere in the data.
    let latest = store
        .leads()
        .flat_map(|l| l.events())
        .map(|e| e.at)
        .max()
        .unwrap();
    let cards: Vec<_> = store
        .leads()
        .map(|l| engine.score_card(l, latest))
        .collect();
    assert!(
        cards
            .iter()
            .flat_map(|c| &c.groups)
            .flat_map(|g| &g.entries)
            .any(|e| e.points < 0.0)
    );
    assert!(
        cards
            .iter()
            .flat_map(|c| &c.groups)
            .flat_map(|g| &g.entries)
            .any(|e| e.decayed < e.points)
    );
    assert!(
        store.leads().all(|l| l.ignored().is_empty()),
        "the example stream is clean"
    );
}
