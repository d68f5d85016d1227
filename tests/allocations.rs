//! The fold allocates nothing per event: a counting allocator (per thread,
//! so tests running beside it do not count) measures whole in-order
//! streams. What remains is amortized: the log, index and contribution
//! lists growing by doubling, and a checkpoint every 32 events (about 3
//! allocations each): 20 000 events cost about 1 900 allocations in all.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use crate::common::{activity, t};
use leadflow::{Engine, Event};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Bytes allocated and not yet freed, by this thread.
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

fn live(delta: usize, sign: i64) {
    LIVE.with(|c| c.set(c.get() + sign * i64::try_from(delta).unwrap_or(i64::MAX)));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a const-initialized thread-local `Cell` (no allocation, no
// destructor), so counting cannot recurse into the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        live(layout.size(), 1);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live(layout.size(), -1);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        live(new_size, 1);
        live(layout.size(), -1);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn engine(decay: &str) -> Engine {
    Engine::from_json(&format!(
        r#"{{"lifecycle": {{"preset": "default"}},
        "scoring": {{"groups": [{{"name": "web", "max": 500}}, {{"name": "content"}}],
          "rules": [
            {{"id": "any", "when": {{"kind": "page_view"}}, "points": 1, "group": "web"}},
            {{"id": "pricing", "when": {{"kind": "page_view", "attrs": [{{"attr": "url", "op": "starts_with", "value": "/pricing"}}]}}, "points": 5, "group": "web"}},
            {{"id": "mentions", "when": {{"kind": "page_view", "attrs": [{{"attr": "url", "op": "contains", "value": "pricing"}}]}}, "points": 1, "group": "web"}},
            {{"id": "guide", "when": {{"kind": "download"}}, "points": 2.5, "group": "content", "frequency": {{"window": "1h"}}}}
          ],
          "decay": {decay}}},
        "qualification": [{{"id": "mql", "when": {{"score": {{"min": 100000}}}}, "then": "MQL"}}]}}"#
    ))
    .unwrap()
}

fn stream(n: i64) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let (kind, url) = if i % 3 == 0 {
                ("download", "/guide")
            } else {
                (
                    "page_view",
                    // Capitals: `contains` searches them without a
                    // lowered copy.
                    if i % 2 == 0 {
                        "/pricing/team"
                    } else {
                        "/Blog/PRICING-vs"
                    },
                )
            };
            activity(&format!("e{i:06}"), "l", i, kind, &[("url", url.into())])
        })
        .collect()
}

#[test]
fn folding_in_order_allocates_nothing_per_event() {
    for decay in [
        "null",
        r#"{"half_life": "7d"}"#,
        r#"{"expire_after": "2d"}"#,
    ] {
        let e = engine(decay);
        let n = 20_000;
        let events = stream(n);
        let mut lead = e.new_lead("l");
        let ingest = allocations_during(|| {
            for ev in events.clone() {
                e.ingest(&mut lead, ev);
            }
        });
        // The clone above allocated (n events' ids, kinds, attributes);
        // count the fold alone by subtracting a bare clone.
        let clone = allocations_during(|| drop(events.clone()));
        let fold = ingest.saturating_sub(clone);
        assert!(
            fold < n as u64 / 8,
            "{decay}: {fold} allocations for {n} events ingested"
        );
        let replay = allocations_during(|| drop(e.replay("l", events.clone())));
        let fold = replay.saturating_sub(clone);
        assert!(
            fold < n as u64 / 8,
            "{decay}: {fold} allocations for {n} events replayed"
        );
        // The fold did happen: the lead scored.
        assert!(e.score(&lead, t(n)) > rust_decimal::Decimal::ZERO);
    }
}

/// Bytes still allocated by this thread after `f`, with what it returns
/// kept alive.
fn held_by<T>(f: impl FnOnce() -> T) -> (T, i64) {
    let before = LIVE.with(Cell::get);
    let kept = f();
    (kept, LIVE.with(Cell::get) - before)
}

/// The reader's short cut for activity lines holds less memory per event
/// than serde's own reading of the same lines: no slack in attribute maps
/// (a first version kept room for four attributes in every one-attribute
/// map: 27 % more memory for a million events), and one shared copy of
/// each lead id, kind and attribute name.
#[test]
fn parsed_events_hold_no_more_memory_than_serdes_reading() {
    let lines: String = (0..1000)
        .map(|i| {
            format!(
                "{{\"id\": \"e{i:05}\", \"lead\": \"lead-{}@acme.test\", \"at\": \"2026-03-02T09:00:00Z\", \
                 \"body\": {{\"type\": \"activity\", \"kind\": \"page_view\", \"attrs\": {{\"url\": \"/pricing/team\"}}}}}}\n",
                i % 7
            )
        })
        .collect();
    let (fast, fast_bytes) = held_by(|| {
        let mut v: Vec<Event> = leadflow::EventReader::new(lines.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        v.shrink_to_fit();
        v
    });
    let (serde, serde_bytes) = held_by(|| {
        let mut v: Vec<Event> = lines
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        v.shrink_to_fit();
        v
    });
    assert_eq!(fast, serde);
    // Sharing the lead id, the kind and the attribute name saves three
    // heap blocks per event (at least 64 bytes).
    assert!(
        fast_bytes + 1000 * 64 <= serde_bytes,
        "the reader holds {fast_bytes} bytes, serde's reading {serde_bytes}"
    );
    #[cfg(target_pointer_width = "64")]
    {
        // A one-attribute map is held inline (16 more bytes per event
        // than a vector's handle, and no 40-byte heap block beside it):
        // an event, its id and its URL are all a parsed page view holds.
        assert!(
            std::mem::size_of::<Event>() <= 144,
            "an event is {} bytes inline",
            std::mem::size_of::<Event>()
        );
        // 144 + the id (22) + the URL (13): 179, and a few shared names.
        // A one-entry vector would add its 40-byte block: 219 and more.
        assert!(
            fast_bytes <= 1000 * 182,
            "the reader holds {fast_bytes} bytes for 1 000 events"
        );
    }
}
