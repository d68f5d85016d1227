//! Timing shared by the fold benches (`lifecycle`, `scoring`).

use leadflow::{Event, Lead, LeadId};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Events per chunk when a bench times a fold with its input in cache: a
/// few hundred KB with their texts, well inside the caches.
pub const CACHED_EVENTS: usize = 1_000;

/// Times `iters` passes of `fold` over `data`, `chunk` leads at a time
/// (at least one): each chunk is copied just before its fold and its leads
/// are dropped after, both outside the timing.
///
/// With chunks of about [`CACHED_EVENTS`] events the input is in cache, as
/// when a host folds events it has just read: the figure is the fold's own
/// cost. With the whole input as one chunk, it is copied beforehand (tens
/// of MB, beyond the caches) and every lead is kept until the pass ends, so
/// the figure adds main-memory latency and the page faults of the leads'
/// new memory.
pub fn timed(
    iters: u64,
    data: &[Vec<Event>],
    chunk: usize,
    fold: impl Fn(Vec<Vec<Event>>) -> Vec<Lead>,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        for part in data.chunks(chunk.max(1)) {
            let input = part.to_vec();
            let start = Instant::now();
            let leads = black_box(fold(input));
            total += start.elapsed();
            drop(leads);
        }
    }
    total
}

/// Leads per chunk for about [`CACHED_EVENTS`] events, for `data`'s
/// longest lead.
pub fn cached_chunk(data: &[Vec<Event>]) -> usize {
    CACHED_EVENTS / data.iter().map(Vec::len).max().unwrap_or(1).max(1)
}

/// The lead the events name: another id would reject them all.
pub fn lead_of(events: &[Event]) -> LeadId {
    events
        .first()
        .map_or_else(|| "lead-0".into(), |e| e.lead.clone())
}
