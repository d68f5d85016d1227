//! Reading events from NDJSON: one JSON [`Event`] per line.
//!
//! ```
//! use leadflow::{Event, EventReader};
//!
//! let text = r#"{"id": "e1", "lead": "ada@acme.test", "at": "2026-03-02T09:00:00Z", "body": {"type": "identified", "visitor": "v-1"}}
//!
//! {"id": "e2", "lead": "ada@acme.test", "at": "2026-03-02T10:00:00Z", "body": {"type": "advanced", "to": "MQL", "actor": "marketing"}}
//! "#;
//! // Strict: the first bad line is the error (`?`); blank lines are skipped.
//! let events: Vec<Event> = EventReader::new(text.as_bytes()).collect::<Result<_, _>>()?;
//! assert_eq!(events.len(), 2);
//!
//! // Tolerant: keep the good events, collect the bad lines.
//! let bad = format!("{text}{{\"id\": \"e3\", \"lead\": \"bob@globex.test\"}}\n");
//! let (events, errors) = EventReader::new(bad.as_bytes()).collect_tolerant();
//! assert_eq!(events.len(), 2);
//! assert_eq!(errors[0].line(), 4);
//! assert_eq!(errors[0].to_string(), "line 4: missing field `at` at column 39");
//! # Ok::<(), leadflow::ReadError>(())
//! ```
//!
//! Lines that are empty or only JSON whitespace (spaces, tabs, `\r`) are
//! skipped (they still count for line numbers). A line may end in `\n` or
//! `\r\n`; the last line needs no line end. An event whose id, lead id or
//! visitor id is blank is an error for its line, as the engine would
//! reject it. A line longer than the limit ([`DEFAULT_MAX_LINE_BYTES`],
//! or [`EventReader::max_line_bytes`]) is an error for that line, read past
//! without being held in memory; memory use is bounded by the limit.

use std::io::{BufRead, Read};
use std::iter::FusedIterator;

use crate::event::Event;
use crate::types::{LeadId, Symbol};

/// The default limit on the length of one line: 1 MiB, line end excluded.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// A streaming reader of NDJSON events, an iterator of
/// `Result<Event, ReadError>`.
///
/// Each item is one non-blank line: its event, or a [`ReadError`] naming the
/// line (1-based) and the problem. A bad line does not end the stream: the
/// next call reads the next line, so a host may skip bad lines (or use
/// [`EventReader::collect_tolerant`]). An I/O error ends it: it is the last
/// item.
#[derive(Debug)]
pub struct EventReader<R> {
    reader: R,
    line: u64,
    max_line: usize,
    buf: Vec<u8>,
    done: bool,
    names: Interner,
}

impl<R: BufRead> EventReader<R> {
    /// A reader over `reader`, with the default line limit.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            line: 0,
            max_line: DEFAULT_MAX_LINE_BYTES,
            buf: Vec::new(),
            done: false,
            names: Interner::default(),
        }
    }

    /// The same reader with another limit on the length of one line, in
    /// bytes, line end excluded.
    #[must_use]
    pub fn max_line_bytes(mut self, max: usize) -> Self {
        self.max_line = max;
        self
    }

    /// The same reader, reading the activity kinds `engine`'s scoring
    /// rules name as the engine's own copies
    /// ([`Engine::symbol`](crate::Engine::symbol)), which the engine
    /// matches to their rules by address. The events are the same: only
    /// where their kinds' texts live differs.
    ///
    /// The copies are placed in the reader's bounded cache of names (4 096
    /// slots, shared by kinds, channels, campaigns and attribute names): a
    /// name the stream reads takes its slot from the copy there, so with
    /// many names a few kinds may come back as copies of their own (as
    /// correct, a little slower to match).
    ///
    /// ```
    /// use leadflow::{Engine, EventBody, EventReader};
    /// let engine = Engine::from_json(r#"{
    ///     "lifecycle": {"preset": "waterfall"},
    ///     "scoring": {"rules": [
    ///         {"id": "demo", "when": {"kind": "demo_request"}, "points": 40}
    ///     ]}
    /// }"#)?;
    /// let line = r#"{"id":"e1","lead":"l1","at":"2026-03-02T09:00:00Z","body":{"type":"activity","kind":"demo_request"}}"#;
    /// let event = EventReader::new(line.as_bytes())
    ///     .with_symbols_of(&engine)
    ///     .next()
    ///     .expect("one line")?;
    /// let EventBody::Activity { kind, .. } = &event.body else { unreachable!() };
    /// assert!(std::ptr::eq(kind.as_str(), engine.symbol("demo_request").as_str()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_symbols_of(mut self, engine: &crate::Engine) -> Self {
        for symbol in engine.symbols() {
            self.names.seed(symbol.clone());
        }
        self
    }

    /// The number of the last line read (1-based; 0 before the first).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Reads the whole stream, keeping going past bad lines: the good events
    /// in stream order, and an error for every bad line (and the I/O error
    /// that ended the stream, if one did).
    pub fn collect_tolerant(self) -> (Vec<Event>, Vec<ReadError>) {
        let mut events = Vec::new();
        let mut errors = Vec::new();
        for item in self {
            match item {
                Ok(event) => events.push(event),
                Err(err) => errors.push(err),
            }
        }
        (events, errors)
    }

    /// Reads the next line into `buf`, line end removed. `Ok(None)` at the
    /// end of the stream; `Ok(Some(false))` for a line over the limit, which
    /// has been read past.
    fn next_line(&mut self) -> std::io::Result<Option<bool>> {
        self.buf.clear();
        // At most the limit, plus two bytes for a `\r\n` line end.
        let cap = u64::try_from(self.max_line)
            .unwrap_or(u64::MAX)
            .saturating_add(2);
        // Counted first, so that an I/O error names the line being read.
        self.line += 1;
        let n = (&mut self.reader)
            .take(cap)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            self.line -= 1;
            return Ok(None);
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        } else if u64::try_from(n).is_ok_and(|n| n == cap) {
            // Cut off by the cap: the line goes on; read past it.
            self.buf.clear();
            self.reader.skip_until(b'\n')?;
            return Ok(Some(false));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.buf.len() > self.max_line {
            self.buf.clear();
            return Ok(Some(false));
        }
        Ok(Some(true))
    }
}

impl<R: BufRead> Iterator for EventReader<R> {
    type Item = Result<Event, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let fits = match self.next_line() {
                Ok(Some(fits)) => fits,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(ReadError::new(
                        self.line,
                        ReadErrorKind::Io { error: e },
                    )));
                }
            };
            let line = self.line;
            if !fits {
                let max = self.max_line;
                return Some(Err(ReadError::new(line, ReadErrorKind::TooLong { max })));
            }
            // A UTF-8 byte order mark opening the stream (editors on
            // Windows write one) is not part of the first line's JSON.
            if line == 1 && self.buf.starts_with(UTF8_BOM) {
                self.buf.drain(..UTF8_BOM.len());
            }
            // JSON's whitespace (a form feed is not: serde refuses it).
            if self
                .buf
                .iter()
                .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            {
                continue;
            }
            return Some(
                parse(&self.buf, &mut self.names).map_err(|kind| ReadError::new(line, kind)),
            );
        }
    }
}

impl<R: BufRead> FusedIterator for EventReader<R> {}

/// The UTF-8 byte order mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Events per hand-over from the reading thread: large enough that the
/// channel costs nothing per event, small enough to bound what is in flight.
const CHUNK: usize = 1024;

/// Chunks in flight between the reading thread and the consumer (so at
/// most `CHUNKS_IN_FLIGHT × CHUNK` events are held beyond the consumer's).
const CHUNKS_IN_FLIGHT: usize = 8;

impl<R: BufRead + Send + 'static> EventReader<R> {
    /// Reads and parses on a thread of its own, so that parsing overlaps
    /// with whatever consumes the events (folding them into a
    /// [`LeadStore`](crate::LeadStore), say): the same items, in the same
    /// order, as iterating the reader itself. Memory stays bounded: the
    /// thread runs at most a few thousand events ahead. Dropping the
    /// iterator stops the thread at its next hand-over.
    ///
    /// Events are handed over in chunks of up to 1 024: meant for files
    /// and fast streams. A source that trickles (a pipe fed by hand, a live
    /// socket) delivers an event only when its chunk fills or the stream
    /// ends; iterate the reader itself there. If the underlying reader
    /// panics, the events read before are delivered and the last item is an
    /// I/O error saying so (the stream never just looks complete).
    ///
    /// ```
    /// use leadflow::EventReader;
    /// let text = "{\"id\": \"e1\", \"lead\": \"ada\", \"at\": \"2026-03-02T09:00:00Z\", \"body\": {\"type\": \"identified\", \"visitor\": \"v-1\"}}\n";
    /// let reader = EventReader::new(std::io::Cursor::new(text.as_bytes().to_vec()));
    /// let events: Vec<_> = reader.in_background()?.collect::<Result<_, _>>()?;
    /// assert_eq!(events.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The I/O error of the operating system refusing to start a thread.
    pub fn in_background(mut self) -> std::io::Result<BackgroundReader> {
        let (send, receive) = std::sync::mpsc::sync_channel(CHUNKS_IN_FLIGHT);
        // Emptied chunks come back to be filled again: no chunk buffer is
        // allocated on one thread and freed on the other per hand-over.
        let (give_back, returned) =
            std::sync::mpsc::sync_channel::<Vec<Result<Event, ReadError>>>(CHUNKS_IN_FLIGHT + 1);
        std::thread::Builder::new()
            .name("leadflow-event-reader".into())
            .spawn(move || {
                loop {
                    let mut chunk = returned
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
                    // A panic of the underlying reader ends the stream with
                    // an error item, after what was read.
                    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        for item in self.by_ref() {
                            chunk.push(item);
                            if chunk.len() == CHUNK {
                                break;
                            }
                        }
                    }));
                    let panicked = read.is_err();
                    if panicked {
                        chunk.push(Err(ReadError::new(
                            self.line,
                            ReadErrorKind::Io {
                                error: std::io::Error::other("the underlying reader panicked"),
                            },
                        )));
                    }
                    // The consumer takes items from the back.
                    chunk.reverse();
                    // An empty chunk: the stream is over. A failed send:
                    // the consumer is gone. A panic: its error was the
                    // last item.
                    if chunk.is_empty() || send.send(chunk).is_err() || panicked {
                        break;
                    }
                }
            })?;
        Ok(BackgroundReader {
            chunks: receive,
            give_back,
            current: Vec::new(),
        })
    }
}

/// The events of an [`EventReader`] read on a thread of its own (see
/// [`EventReader::in_background`]): an iterator of
/// `Result<Event, ReadError>`.
#[derive(Debug)]
pub struct BackgroundReader {
    chunks: std::sync::mpsc::Receiver<Vec<Result<Event, ReadError>>>,
    /// Where emptied chunks go back to the reading thread.
    give_back: std::sync::mpsc::SyncSender<Vec<Result<Event, ReadError>>>,
    /// The chunk being handed out, in reverse order (taken by `pop`).
    current: Vec<Result<Event, ReadError>>,
}

impl Iterator for BackgroundReader {
    type Item = Result<Event, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.current.pop() {
                return Some(item);
            }
            // The thread hung up: every chunk has been handed over.
            let next = self.chunks.recv().ok()?;
            let done = std::mem::replace(&mut self.current, next);
            // The emptied buffer goes back (or is dropped if the thread
            // has enough, or is gone).
            let _ = self.give_back.try_send(done);
        }
    }
}

impl FusedIterator for BackgroundReader {}

/// An activity line, read straight into an [`Event`]. serde reads an
/// internally tagged enum (`EventBody`) by first copying the whole body
/// into an intermediate tree (every string allocated twice); activities
/// are most of a stream, so they get this direct reading: strings
/// borrowed from the line (or unescaped once), names through the reader's
/// [`Interner`], attributes gathered on the stack and stored at their
/// size. It accepts no more than the full reading: an unknown or repeated
/// field, another tag or a value of another type makes it give up, and
/// the line is read again by `Event`'s own deserializer, whose event or
/// error is the answer. The short cut changes speed, never a result (a
/// property test compares the two on generated and mangled lines).
struct ActivitySeed<'n> {
    names: &'n mut Interner,
}

/// Why the short cut gave up (never shown: the full reading answers).
const NOT_SHORT: &str = "not an activity line the short cut reads";

impl<'de> serde::de::DeserializeSeed<'de> for ActivitySeed<'_> {
    type Value = Event;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Event, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ActivitySeed<'_> {
    type Value = Event;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an activity event")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        use serde::de::Error;
        let names = self.names;
        let (mut id, mut lead, mut at, mut body) = (None, None, None, None);
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match &*key {
                "id" if id.is_none() => id = Some(map.next_value::<Text<'de>>()?),
                "lead" if lead.is_none() => lead = Some(map.next_value::<Text<'de>>()?),
                "at" if at.is_none() => at = Some(map.next_value::<At>()?.0),
                "body" if body.is_none() => {
                    body = Some(map.next_value_seed(BodySeed { names: &mut *names })?);
                }
                _ => return Err(A::Error::custom(NOT_SHORT)),
            }
        }
        match (id, lead, at, body) {
            (Some(id), Some(lead), Some(at), Some(body)) => Ok(Event {
                id: (*id).into(),
                lead: names.lead(&lead),
                at,
                body,
            }),
            _ => Err(A::Error::custom(NOT_SHORT)),
        }
    }
}

/// The body of an activity line.
struct BodySeed<'n> {
    names: &'n mut Interner,
}

impl<'de> serde::de::DeserializeSeed<'de> for BodySeed<'_> {
    type Value = crate::event::EventBody;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for BodySeed<'_> {
    type Value = crate::event::EventBody;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an activity")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        let names = self.names;
        let (mut tag, mut kind, mut channel, mut campaign, mut attrs) =
            (false, None, None, None, None);
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match &*key {
                "type" if !tag => {
                    if &*map.next_value::<Text<'de>>()? != "activity" {
                        return Err(A::Error::custom(NOT_SHORT));
                    }
                    tag = true;
                }
                "kind" if kind.is_none() => {
                    kind = Some(names.symbol(&map.next_value::<Text<'de>>()?));
                }
                "channel" if channel.is_none() => {
                    let c = map.next_value::<Option<Text<'de>>>()?;
                    channel = Some(c.map(|c| names.symbol(&c)));
                }
                "campaign" if campaign.is_none() => {
                    let c = map.next_value::<Option<Text<'de>>>()?;
                    campaign = Some(c.map(|c| names.symbol(&c)));
                }
                "attrs" if attrs.is_none() => {
                    attrs = Some(map.next_value_seed(AttrsSeed { names: &mut *names })?);
                }
                _ => return Err(A::Error::custom(NOT_SHORT)),
            }
        }
        match (tag, kind) {
            (true, Some(kind)) => Ok(crate::event::EventBody::Activity {
                kind,
                channel: channel.flatten(),
                campaign: campaign.flatten(),
                attrs: attrs.unwrap_or_default(),
            }),
            _ => Err(A::Error::custom(NOT_SHORT)),
        }
    }
}

/// An activity's attributes, names interned: the first few gathered on
/// the stack, so that the map is allocated once, at its size.
struct AttrsSeed<'n> {
    names: &'n mut Interner,
}

/// Attributes of an activity gathered on the stack while reading it.
const HEAD_ATTRS: usize = 4;

impl<'de> serde::de::DeserializeSeed<'de> for AttrsSeed<'_> {
    type Value = crate::attr::Attrs;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for AttrsSeed<'_> {
    type Value = crate::attr::Attrs;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object of attribute values")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut head: [Option<(Symbol, crate::attr::AttrValue)>; HEAD_ATTRS] = Default::default();
        let mut rest = Vec::new();
        let mut n = 0;
        while let Some(name) = map.next_key::<Text<'de>>()? {
            let value = map.next_value::<crate::attr::AttrValue>()?;
            let entry = (self.names.symbol(&name), value);
            match head.get_mut(n) {
                Some(slot) => *slot = Some(entry),
                None => rest.push(entry),
            }
            n += 1;
        }
        // One attribute (the usual activity) is held inline: no vector.
        if n == 1
            && let [Some((name, value)), ..] = head
        {
            return Ok(crate::attr::Attrs::one(name, value));
        }
        let mut entries = Vec::with_capacity(n);
        entries.extend(head.into_iter().flatten());
        entries.extend(rest);
        // Sorted and deduplicated (the last value of a name wins).
        Ok(crate::attr::Attrs::from_entries(entries))
    }
}

/// A JSON string as written in the line when it has no escapes (most
/// do), or unescaped into a copy.
struct Text<'a>(std::borrow::Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(V(std::marker::PhantomData))
    }
}

/// Lead ids and names read recently, so that the events of one stream
/// share copies of them: a million page views by ten thousand leads hold
/// ten thousand lead ids and one `page_view`, not a million of each. A
/// direct-mapped cache (one slot per hash value; a new text takes its
/// slot), so its memory is bounded whatever the stream holds, and a miss
/// only costs a copy.
#[derive(Debug, Default)]
struct Interner {
    leads: Vec<Option<LeadId>>,
    symbols: Vec<Option<Symbol>>,
}

/// Slots for lead ids (1 MiB once filled); a power of two.
const LEAD_SLOTS: usize = 1 << 16;

/// Slots for kinds, channels and campaigns; a power of two.
const SYMBOL_SLOTS: usize = 1 << 12;

impl Interner {
    fn lead(&mut self, id: &str) -> LeadId {
        cached(&mut self.leads, LEAD_SLOTS, id)
    }

    fn symbol(&mut self, name: &str) -> Symbol {
        cached(&mut self.symbols, SYMBOL_SLOTS, name)
    }

    /// Puts `symbol` in its slot, so that its text is read as this copy
    /// (until another text takes the slot).
    fn seed(&mut self, symbol: Symbol) {
        if let Some(slot) = slot_of(&mut self.symbols, SYMBOL_SLOTS, &symbol) {
            *slot = Some(symbol);
        }
    }
}

/// The cached copy of `text` in `slots` (made on first use with `size`
/// slots), or a new one that takes its slot.
fn cached<T>(slots: &mut Vec<Option<T>>, size: usize, text: &str) -> T
where
    T: Clone + std::ops::Deref<Target = str> + for<'a> From<&'a str>,
{
    match slot_of(slots, size, text) {
        Some(Some(t)) if crate::hash::same_str(t, text) => t.clone(),
        Some(slot) => slot.insert(T::from(text)).clone(),
        None => T::from(text),
    }
}

/// The slot of `text` in `slots` (made on first use with `size` slots).
fn slot_of<'a, T>(
    slots: &'a mut Vec<Option<T>>,
    size: usize,
    text: &str,
) -> Option<&'a mut Option<T>> {
    if slots.is_empty() {
        slots.resize_with(size, || None);
    }
    slots.get_mut((crate::hash::hash_str(text) as usize) & (size - 1))
}

/// A timestamp field as chrono reads one (RFC 3339, any offset, to UTC),
/// with a short cut for the form nearly every stream writes,
/// `YYYY-MM-DDTHH:MM:SSZ`.
struct At(crate::types::Timestamp);

impl<'de> serde::Deserialize<'de> for At {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = At;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an RFC 3339 formatted date and time string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<At, E> {
                match utc_seconds(text) {
                    Some(t) => Ok(At(t)),
                    None => text
                        .parse::<chrono::DateTime<chrono::FixedOffset>>()
                        .map(|t| At(t.with_timezone(&chrono::Utc)))
                        .map_err(E::custom),
                }
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` read directly; `None` for any other text
/// (which chrono then reads, or refuses).
fn utc_seconds(text: &str) -> Option<crate::types::Timestamp> {
    let b: &[u8; 20] = text.as_bytes().try_into().ok()?;
    let shape = b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    if !shape {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b.get(from..to)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(num(0, 4)?).ok()?;
    let date = chrono::NaiveDate::from_ymd_opt(year, num(5, 7)?, num(8, 10)?)?;
    let time = date.and_hms_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?)?;
    Some(time.and_utc())
}

/// One line's event, checked for ids.
fn parse(bytes: &[u8], names: &mut Interner) -> Result<Event, ReadErrorKind> {
    // Lines without the word are not tried as activities: no line is read
    // twice for nothing.
    static ACTIVITY: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"activity\""));
    let activity = ACTIVITY.find(bytes).is_some();
    // Checked as UTF-8 once, so that the parser need not check each
    // string it reads (a line that is not UTF-8 gets serde's own error
    // from the full reading).
    let text = activity.then(|| std::str::from_utf8(bytes).ok()).flatten();
    let fast = text.map(|text| {
        let mut de = serde_json::Deserializer::from_str(text);
        let event = serde::de::DeserializeSeed::deserialize(ActivitySeed { names }, &mut de);
        event.and_then(|e| de.end().map(|()| e)).ok()
    });
    let event = match fast.flatten() {
        Some(event) => event,
        None => read_event(bytes)?,
    };
    if let Some(what) = crate::engine::blank_id(&event) {
        return Err(ReadErrorKind::EmptyId { what });
    }
    Ok(event)
}

/// A line read by `Event`'s own deserializer.
fn read_event(bytes: &[u8]) -> Result<Event, ReadErrorKind> {
    serde_json::from_slice(bytes).map_err(|e| {
        // The position is within the line: keep the column, drop "line 1".
        let text = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
        ReadErrorKind::Json {
            message,
            column: e.column(),
        }
    })
}

/// A line of an NDJSON event stream that could not be read as an event.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ReadError {
    line: u64,
    kind: ReadErrorKind,
}

impl ReadError {
    fn new(line: u64, kind: ReadErrorKind) -> Self {
        Self { line, kind }
    }

    /// The line's number, 1-based.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// What is wrong with it.
    pub fn kind(&self) -> &ReadErrorKind {
        &self.kind
    }
}

/// What is wrong with a line of an NDJSON event stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadErrorKind {
    /// Reading failed; the stream ends here.
    #[error("reading failed: {error}")]
    Io {
        /// The I/O error.
        error: std::io::Error,
    },
    /// The line is not a JSON event (bad JSON, a missing or unknown field,
    /// text that is not UTF-8).
    #[error("{message} at column {column}")]
    Json {
        /// The parser's message.
        message: String,
        /// Where in the line the parser stopped (1-based; 0 when unknown).
        column: usize,
    },
    /// The event's id, lead id or (for `identified`) visitor id is empty
    /// or only whitespace: the engine would reject the event.
    #[error("{what} must not be empty")]
    EmptyId {
        /// Which id: `event id`, `lead id` or `visitor id`.
        what: &'static str,
    },
    /// The line is longer than the reader's limit.
    #[error("line is longer than {max} bytes")]
    TooLong {
        /// The limit, in bytes, line end excluded.
        max: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::utc_seconds;
    use proptest::prelude::*;

    /// chrono's reading of a timestamp, the oracle of the short cut.
    fn chrono_reads(text: &str) -> Option<crate::types::Timestamp> {
        text.parse::<chrono::DateTime<chrono::FixedOffset>>()
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    #[test]
    fn the_short_cut_reads_what_chrono_reads_and_refuses_the_rest() {
        let read = utc_seconds("2026-03-02T09:05:07Z");
        assert_eq!(read, chrono_reads("2026-03-02T09:05:07Z"));
        assert!(read.is_some());
        // Other forms and impossible values go to chrono.
        for text in [
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-06-30T23:59:60Z",
            "2026-01-01t00:00:00Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00z",
            "2026-01-01T00:00:00.5Z",
            "2026-01-01T00:00:00+01:00",
            "+026-01-01T00:00:00Z",
            "2026-1-01T00:00:000Z",
        ] {
            assert_eq!(utc_seconds(text), None, "{text}");
        }
        assert!(
            chrono_reads("2026-06-30T23:59:60Z").is_some(),
            "a leap second"
        );
    }

    proptest! {
        /// Text of the shape, fields mostly in range and now and then
        /// out of it (month 13, day 32, hour 24, second 60), sometimes
        /// with a stray byte: the short cut answers exactly what chrono
        /// answers, except a leap second (and stray forms), left to it.
        #[test]
        fn the_short_cut_agrees_with_chrono(
            fields in (0u32..=9999, 0u32..=13, 0u32..=32, 0u32..=24, 0u32..=60, 0u32..=60),
            stray in proptest::option::of((0usize..20, proptest::sample::select(vec![b'x', b'-', b' ', b'+', b'9', b'T']))),
        ) {
            let (y, mo, d, h, mi, sec) = fields;
            let mut text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}Z").into_bytes();
            if let Some((at, byte)) = stray {
                text[at] = byte;
            }
            let text = String::from_utf8(text).unwrap();
            let ours = utc_seconds(&text);
            let theirs = chrono_reads(&text);
            if ours.is_some() || stray.is_none() && sec < 60 {
                prop_assert_eq!(ours, theirs, "{}", text);
            }
        }
    }
}
