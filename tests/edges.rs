//! Edge cases: config error paths for JSON-level mistakes, grade
//! arithmetic at the extremes, linear `contains`, and the NDJSON reader.

use leadflow::{ConfigErrorKind, Engine};

/// The path and message of a config that must fail at the JSON level.
fn syntax_error(json: &str) -> (String, String) {
    let err = Engine::from_json(json).expect_err("the config must be rejected");
    let message = match err.kind() {
        ConfigErrorKind::Syntax { message } => message.clone(),
        other => panic!("expected a syntax error, got {other:?}"),
    };
    (err.path().to_owned(), message)
}

mod config_paths {
    use super::syntax_error;

    #[test]
    fn unknown_field_in_a_rule_names_the_rule_and_field() {
        let json = r#"{
  "lifecycle": {"preset": "default"},
  "scoring": {"rules": [
    {"id": "demo", "when": {"kind": "demo_request"}, "pointz": 10}
  ]}
}"#;
        let (path, message) = syntax_error(json);
        assert_eq!(path, "scoring.rules[0].pointz");
        assert!(message.contains("unknown field `pointz`"), "{message}");
        assert!(message.contains("line 4"), "line kept: {message}");
    }

    #[test]
    fn unknown_field_in_a_later_rule_names_its_index() {
        let json = r#"{"lifecycle": {"preset": "default"}, "scoring": {"rules": [
            {"id": "a", "when": {"kind": "k"}, "points": 1},
            {"id": "b", "when": {"kind": "k", "atrs": []}, "points": 1}]}}"#;
        assert_eq!(syntax_error(json).0, "scoring.rules[1].when.atrs");
    }

    #[test]
    fn unknown_field_in_an_enum_variant_names_the_variant() {
        let json = r#"{"lifecycle": {"preset": "default"}, "scoring": {"decay":
            {"percent_per_period": {"percent": 10, "period": "7d", "every": 1}}}}"#;
        assert_eq!(
            syntax_error(json).0,
            "scoring.decay.percent_per_period.every"
        );
    }

    #[test]
    fn bad_span_in_a_stage_names_the_stage_field() {
        let json = r#"{"lifecycle": {"stages": [
            {"name": "New", "rank": 0, "kind": "open"},
            {"name": "MQL", "rank": 1, "kind": "sla", "within": "24 parsecs"}
        ]}}"#;
        let (path, message) = syntax_error(json);
        assert_eq!(path, "lifecycle.stages[1].within");
        assert!(message.contains("line 3 column"), "{message}");
    }

    #[test]
    fn wrong_type_in_a_qualification_rule_names_the_field() {
        let json = r#"{"lifecycle": {"preset": "default"}, "qualification": [
            {"id": "mql", "when": {"score": {"min": "a hundred"}}, "then": "MQL"}
        ]}"#;
        let (path, message) = syntax_error(json);
        assert_eq!(path, "qualification[0].when.score.min");
        assert!(message.contains("a hundred"), "{message}");
    }

    #[test]
    fn unknown_top_level_field_is_named_alone() {
        let json = r#"{"lifecycle": {"preset": "default"}, "scorin": {}}"#;
        let (path, message) = syntax_error(json);
        assert_eq!(path, "scorin");
        assert!(message.contains("line 1 column"), "{message}");
    }

    #[test]
    fn text_that_is_not_json_is_reported_at_config() {
        let (path, message) = syntax_error("{\"lifecycle\": ");
        assert_eq!(path, "lifecycle");
        assert!(message.contains("EOF"), "{message}");
        let (path, _) = syntax_error("not json");
        assert_eq!(path, "config");
        let (path, message) = syntax_error(r#"{"lifecycle": {"preset": "default"}} trailing"#);
        assert_eq!(path, "config");
        assert!(message.contains("trailing"), "{message}");
    }

    #[test]
    fn display_starts_with_the_path() {
        let err = leadflow::Engine::from_json(
            r#"{"lifecycle": {"preset": "default"}, "grading": {"criteria": [
                {"id": "x", "when": {"attr": "a", "op": "exists"}, "weight": 1, "wieght": 2}]}}"#,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("grading.criteria[0].wieght: unknown field `wieght`"),
            "{text}"
        );
    }
}

mod grade_extremes {
    use leadflow::Grade;

    #[test]
    fn raised_saturates_at_the_ends_of_i32() {
        let all: Vec<Grade> = ["F", "D-", "D", "C", "B-", "A", "A+"]
            .iter()
            .map(|g| g.parse().unwrap())
            .collect();
        for g in all {
            assert_eq!(g.raised(i32::MAX).to_string(), "A+", "{g} raised by MAX");
            assert_eq!(g.raised(i32::MIN).to_string(), "F", "{g} lowered by MIN");
            assert_eq!(g.raised(i32::MAX - 1).steps(), 12);
            assert_eq!(g.raised(i32::MIN + 1).steps(), 0);
        }
    }
}

mod linear_compile {
    use leadflow::{AttrValue, ConfigErrorKind, Engine};
    use serde_json::{Value, json};

    use crate::common::{activity, t};

    fn rejected(config: Value) -> (String, ConfigErrorKind) {
        let err = Engine::from_json(&config.to_string()).expect_err("must be rejected");
        (err.path().to_owned(), err.kind().clone())
    }

    fn duplicate(id: &str) -> ConfigErrorKind {
        ConfigErrorKind::DuplicateId { id: id.to_owned() }
    }

    const N: usize = 20_000;

    #[test]
    fn a_duplicate_rule_id_is_named_at_its_later_occurrence() {
        let mut rules: Vec<Value> = (0..N)
            .map(|i| json!({"id": format!("r{i}"), "when": {"kind": "k"}, "points": 1}))
            .collect();
        rules.push(json!({"id": "r7", "when": {"kind": "k"}, "points": 1}));
        let (path, kind) = rejected(json!({
            "lifecycle": {"preset": "default"}, "scoring": {"rules": rules}}));
        assert_eq!(path, format!("scoring.rules[{N}].id"));
        assert_eq!(kind, duplicate("r7"));
    }

    #[test]
    fn a_duplicate_group_name_is_named_at_its_later_occurrence() {
        let (path, kind) = rejected(json!({"lifecycle": {"preset": "default"},
            "scoring": {"groups": [{"name": "a"}, {"name": "b"}, {"name": "a"}]}}));
        assert_eq!(path, "scoring.groups[2].name");
        assert_eq!(kind, duplicate("a"));
    }

    #[test]
    fn a_duplicate_criterion_id_is_named_at_its_later_occurrence() {
        let mut criteria: Vec<Value> = (0..N)
            .map(|i| {
                json!({"id": format!("c{i}"), "weight": 1,
                            "when": {"attr": "industry", "op": "exists"}})
            })
            .collect();
        criteria.insert(
            3,
            json!({"id": "c9999", "weight": 2, "when": {"attr": "x", "op": "exists"}}),
        );
        let (path, kind) = rejected(json!({
            "lifecycle": {"preset": "default"}, "grading": {"criteria": criteria}}));
        // The inserted one comes first; the original c9999 is now at 10000.
        assert_eq!(path, "grading.criteria[10000].id");
        assert_eq!(kind, duplicate("c9999"));
    }

    #[test]
    fn a_duplicate_qualification_id_is_named_at_its_later_occurrence() {
        let mut rules: Vec<Value> = (0..N)
            .map(|i| {
                json!({"id": format!("q{i}"), "when": {"stages": ["Anonymous"]},
                            "then": "MQL"})
            })
            .collect();
        rules.push(json!({"id": "q0", "when": {"stages": ["MQL"]}, "then": "SQL"}));
        let (path, kind) = rejected(json!({
            "lifecycle": {"preset": "default"}, "qualification": rules}));
        assert_eq!(path, format!("qualification[{N}].id"));
        assert_eq!(kind, duplicate("q0"));
    }

    #[test]
    fn large_configs_compile() {
        let groups: Vec<Value> = (0..100).map(|g| json!({"name": format!("g{g}")})).collect();
        let rules: Vec<Value> = (0..N)
            .map(|i| {
                json!({"id": format!("r{i}"), "points": 1, "group": format!("g{}", i % 100),
                "when": {"kind": format!("k{}", i % 50),
                         "attrs": [{"attr": format!("a{}", i % 7), "op": "exists"}]}})
            })
            .collect();
        let criteria: Vec<Value> = (0..N)
            .map(|i| {
                json!({"id": format!("c{i}"), "weight": 1 + i % 3,
                            "when": {"attr": "industry", "op": "exists"}})
            })
            .collect();
        let quals: Vec<Value> = (0..N)
            .map(|i| {
                json!({"id": format!("q{i}"), "then": "MQL",
                "when": {"score": {"group": format!("g{}", i % 100), "min": 1e9}}})
            })
            .collect();
        let engine = Engine::from_json(
            &json!({"lifecycle": {"preset": "default"},
                    "scoring": {"groups": groups, "rules": rules},
                    "grading": {"criteria": criteria},
                    "qualification": quals})
            .to_string(),
        )
        .expect("a large, valid config compiles");
        assert_eq!(engine.config().scoring.rules.len(), N);
        // Kind k3 has rules i ≡ 3 (mod 50): 400 of them, and their attribute
        // is a{i mod 7}. An activity with only a3 fires the rules of k3 whose
        // i ≡ 3 (mod 7) too, i.e. i ≡ 3 (mod 350): 58 of them below 20 000.
        let oracle = (0..N).filter(|i| i % 50 == 3 && i % 7 == 3).count();
        assert_eq!(oracle, 58);
        let mut lead = engine.new_lead("x");
        engine.ingest(
            &mut lead,
            activity("e1", "x", 0, "k3", &[("a3", AttrValue::from("yes"))]),
        );
        assert_eq!(engine.score(&lead, t(1)), crate::common::pts(oracle as f64));
    }

    #[test]
    fn rules_share_attribute_slots_per_kind_only() {
        // Two kinds read the same attribute names in different orders; a
        // slot mix-up between kinds or attributes would fire the wrong rules.
        let engine = Engine::from_json(
            &json!({"lifecycle": {"preset": "default"}, "scoring": {"rules": [
                {"id": "a-url", "points": 1, "when": {"kind": "a",
                    "attrs": [{"attr": "url", "op": "starts_with", "value": "/p"}]}},
                {"id": "a-asset", "points": 10, "when": {"kind": "a",
                    "attrs": [{"attr": "asset", "op": "equals", "value": "pdf"}]}},
                {"id": "b-asset", "points": 100, "when": {"kind": "b",
                    "attrs": [{"attr": "asset", "op": "equals", "value": "pdf"}]}},
                {"id": "b-url", "points": 1000, "when": {"kind": "b",
                    "attrs": [{"attr": "url", "op": "starts_with", "value": "/p"},
                              {"attr": "asset", "op": "exists"}]}},
                {"id": "a-url-again", "points": 10000, "when": {"kind": "a",
                    "attrs": [{"attr": "url", "op": "contains", "value": "ricing"}]}}
            ]}})
            .to_string(),
        )
        .unwrap();
        let mut lead = engine.new_lead("x");
        let pricing = AttrValue::from("/pricing");
        engine.ingest(
            &mut lead,
            activity("e1", "x", 0, "a", &[("url", pricing.clone())]),
        );
        assert_eq!(engine.score(&lead, t(1)), crate::common::pts(10_001.0));
        engine.ingest(
            &mut lead,
            activity(
                "e2",
                "x",
                2,
                "b",
                &[("url", pricing), ("asset", "PDF".into())],
            ),
        );
        assert_eq!(
            engine.score(&lead, t(3)),
            crate::common::pts(10_001.0 + 1_100.0)
        );
    }

    #[test]
    fn the_default_group_can_be_named_when_no_groups_are_given() {
        let ok = Engine::from_json(
            &json!({"lifecycle": {"preset": "default"}, "scoring": {"rules": [
                {"id": "r", "points": 1, "group": "default", "when": {"kind": "k"}}]}})
            .to_string(),
        );
        assert!(ok.is_ok(), "{ok:?}");
        let (path, kind) = rejected(json!({"lifecycle": {"preset": "default"},
            "scoring": {"groups": [{"name": "a"}], "rules": [
                {"id": "r", "points": 1, "group": "default", "when": {"kind": "k"}}]}}));
        assert_eq!(path, "scoring.rules[0].group");
        assert_eq!(
            kind,
            ConfigErrorKind::Unknown {
                what: "score group".into(),
                name: "default".into()
            }
        );
    }
}

mod contains_linear {
    use leadflow::{AttrValue, Engine, Verdict};
    use proptest::prelude::*;
    use serde_json::json;

    use crate::common::attrs;

    /// The verdict of `title contains needle` on a lead whose title is `hay`.
    fn contains(needle: &str, hay: &str) -> bool {
        let engine = Engine::from_json(
            &json!({"lifecycle": {"preset": "default"}, "grading": {"criteria": [
                {"id": "c", "weight": 1,
                 "when": {"attr": "title", "op": "contains", "value": needle}}]}})
            .to_string(),
        )
        .unwrap();
        let mut lead = engine.new_lead("x");
        engine.ingest(
            &mut lead,
            attrs("e1", "x", 0, &[("title", AttrValue::from(hay))], &[]),
        );
        match engine.grade_card(&lead).criteria[0].verdict {
            Verdict::Matched => true,
            Verdict::Mismatched => false,
            other => panic!("the attribute is known: {other:?}"),
        }
    }

    /// Brute force over byte windows, folding `A..=Z` by hand.
    fn oracle(needle: &str, hay: &str) -> bool {
        let fold = |b: u8| if b.is_ascii_uppercase() { b + 32 } else { b };
        let (n, h) = (needle.as_bytes(), hay.as_bytes());
        (0..=h.len().saturating_sub(n.len()))
            .any(|i| h.len() >= i + n.len() && (0..n.len()).all(|j| fold(h[i + j]) == fold(n[j])))
    }

    // Letters in both cases, non-ASCII letters whose case folding ASCII
    // rules must not touch (`é`/`É`, the Kelvin sign, `ß`), and a digit.
    const HAY: &str = "[aAbBkKéÉ\u{212A}ß1]{0,24}";
    const NONEMPTY_HAY: &str = "[aAbBkKéÉ\u{212A}ß1]{1,24}";
    const NEEDLE: &str = "[aAbBkKéÉ\u{212A}ß1]{1,4}";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn matches_brute_force(
            hay in HAY,
            needle in NEEDLE,
        ) {
            prop_assert_eq!(contains(&needle, &hay), oracle(&needle, &hay));
        }

        #[test]
        fn finds_case_flipped_slices(
            hay in NONEMPTY_HAY,
            cut in any::<proptest::sample::Index>(),
            len in 1usize..6,
        ) {
            let chars: Vec<char> = hay.chars().collect();
            let start = cut.index(chars.len());
            let end = (start + len).min(chars.len());
            let needle: String = chars[start..end]
                .iter()
                .map(|c| if c.is_ascii_lowercase() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            prop_assert!(oracle(&needle, &hay));
            prop_assert!(contains(&needle, &hay), "{needle:?} in {hay:?}");
        }
    }

    #[test]
    fn non_ascii_case_is_not_folded() {
        assert!(!contains("é", "CAFÉ"));
        assert!(contains("É", "cafÉ"));
        assert!(contains("caf", "CAFÉ"));
        assert!(
            !contains("k", "\u{212A}elvin"),
            "the Kelvin sign is not ASCII k"
        );
    }

    #[test]
    fn a_long_needle_in_a_long_text_finishes() {
        let hay = "a".repeat(1 << 20);
        let miss = format!("{}b", "a".repeat(9_999));
        assert!(!contains(&miss, &hay));
        let hit = format!("{}A", "a".repeat(9_999));
        assert!(contains(&hit, &hay.to_uppercase()));
        let end = format!("{hay}B");
        assert!(contains(&miss, &end));
    }
}

mod ndjson {
    use std::io::{BufReader, Read};

    use leadflow::{
        Actor, DEFAULT_MAX_LINE_BYTES, Event, EventBody, EventReader, ReadError, ReadErrorKind,
    };
    use proptest::prelude::*;

    use crate::common::t;

    /// An event line for `id` at minute `m`, and the event it must read as.
    fn line(id: &str, m: i64) -> (String, Event) {
        let at = t(m);
        let text = format!(
            r#"{{"id": "{id}", "lead": "ada@acme.test", "at": "{}", "body": {{"type": "advanced", "to": "MQL", "actor": "sales"}}}}"#,
            at.to_rfc3339()
        );
        let event = Event::new(
            id,
            "ada@acme.test",
            at,
            EventBody::Advanced {
                to: "MQL".into(),
                actor: Actor::Sales,
                reason: None,
            },
        );
        (text, event)
    }

    fn read(text: &str) -> Vec<Result<Event, ReadError>> {
        EventReader::new(text.as_bytes()).collect()
    }

    #[test]
    fn a_good_stream_reads_every_event_in_order() {
        let lines: Vec<_> = (0..3).map(|i| line(&format!("e{i}"), i)).collect();
        let text: String = lines.iter().map(|(l, _)| format!("{l}\n")).collect();
        let events: Vec<Event> = read(&text).into_iter().map(Result::unwrap).collect();
        let expected: Vec<Event> = lines.into_iter().map(|(_, e)| e).collect();
        assert_eq!(events, expected);
    }

    #[test]
    fn blank_lines_are_skipped_but_counted_and_line_ends_vary() {
        let (a, ea) = line("a", 0);
        let (b, eb) = line("b", 1);
        // CRLF, blank and whitespace-only lines, no line end at the end.
        let text = format!("\n{a}\r\n   \n\t\r\n{b}");
        let mut reader = EventReader::new(text.as_bytes());
        assert_eq!(reader.next().unwrap().unwrap(), ea);
        assert_eq!(reader.line(), 2);
        assert_eq!(reader.next().unwrap().unwrap(), eb);
        assert_eq!(reader.line(), 5);
        assert!(reader.next().is_none());
        assert!(reader.next().is_none(), "fused");
        assert!(read("").is_empty());
        assert!(read("\n\n  \n").is_empty());
    }

    #[test]
    fn bad_json_on_line_3_names_line_3() {
        let (a, _) = line("a", 0);
        let text = format!("{a}\n\n{{\"id\": \"b\", \"lead\": \n{a}\n");
        let items = read(&text);
        assert_eq!(items.len(), 3, "the bad line does not end the stream");
        let err = items[1].as_ref().unwrap_err();
        assert_eq!(err.line(), 3);
        assert!(
            matches!(err.kind(), ReadErrorKind::Json { message, column: 20 }
                if message == "EOF while parsing a value"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "line 3: EOF while parsing a value at column 20"
        );
        // Strict collection stops at it.
        let strict: Result<Vec<Event>, _> = EventReader::new(text.as_bytes()).collect();
        assert_eq!(strict.unwrap_err().line(), 3);
    }

    #[test]
    fn shape_errors_carry_the_serde_message() {
        let (a, _) = line("a", 0);
        let text = a.replace("\"advanced\"", "\"teleported\"");
        let err = read(&text).remove(0).unwrap_err();
        assert_eq!(err.line(), 1);
        assert!(
            err.to_string()
                .starts_with("line 1: unknown variant `teleported`, expected one of"),
            "{err}"
        );
    }

    #[test]
    fn empty_ids_are_rejected_by_name() {
        let (a, _) = line("a", 0);
        let no_id = a.replace(r#""id": "a""#, r#""id": """#);
        let blank_lead = a.replace(r#""lead": "ada@acme.test""#, r#""lead": "  ""#);
        let items = read(&format!("{no_id}\n{blank_lead}\n{a}\n"));
        let msgs: Vec<String> = items
            .iter()
            .map(|r| {
                r.as_ref()
                    .map_or_else(ToString::to_string, |e| e.id.to_string())
            })
            .collect();
        assert_eq!(
            msgs,
            [
                "line 1: event id must not be empty",
                "line 2: lead id must not be empty",
                "a"
            ]
        );
    }

    #[test]
    fn tolerant_mode_collects_bad_lines_and_returns_the_good_events() {
        let lines: Vec<_> = (0..4).map(|i| line(&format!("e{i}"), i)).collect();
        let text = format!(
            "{}\nnot json\n{}\n\n{{\"id\": \"x\"}}\n{}\n{}\n",
            lines[0].0, lines[1].0, lines[2].0, lines[3].0
        );
        let (events, errors) = EventReader::new(text.as_bytes()).collect_tolerant();
        let expected: Vec<Event> = lines.into_iter().map(|(_, e)| e).collect();
        assert_eq!(events, expected);
        let at: Vec<u64> = errors.iter().map(ReadError::line).collect();
        assert_eq!(at, [2, 5]);
        assert!(
            errors
                .iter()
                .all(|e| matches!(e.kind(), ReadErrorKind::Json { .. }))
        );
    }

    #[test]
    fn an_overlong_line_is_an_error_for_that_line_only() {
        let (a, ea) = line("a", 0);
        let (b, eb) = line("b", 1);
        let max = a.len();
        // Exactly at the limit (padded with spaces JSON ignores) is fine;
        // one byte over is not, with or without a line end.
        let at_limit = format!("{b:<max$}");
        assert_eq!(at_limit.len(), max);
        let over = format!("{b:<0$}", max + 1);
        let text = format!("{a}\n{over}\n{at_limit}\r\n{over}");
        let items: Vec<_> = EventReader::new(text.as_bytes())
            .max_line_bytes(max)
            .collect();
        assert_eq!(items.len(), 4);
        assert_eq!(items[0].as_ref().unwrap(), &ea);
        assert_eq!(items[2].as_ref().unwrap(), &eb);
        for (i, line) in [(1, 2), (3, 4)] {
            let err = items[i].as_ref().unwrap_err();
            assert_eq!(err.line(), line);
            assert!(matches!(err.kind(), ReadErrorKind::TooLong { max: m } if *m == max));
            assert_eq!(
                err.to_string(),
                format!("line {line}: line is longer than {max} bytes")
            );
        }
    }

    #[test]
    fn the_default_limit_is_one_mebibyte() {
        assert_eq!(DEFAULT_MAX_LINE_BYTES, 1 << 20);
        let (a, ea) = line("a", 0);
        let huge = format!("{{\"id\": \"{}\"}}", "x".repeat(1 << 20));
        let items = read(&format!("{huge}\n{a}\n"));
        assert!(matches!(
            items[0].as_ref().unwrap_err().kind(),
            ReadErrorKind::TooLong { max: 1_048_576 }
        ));
        assert_eq!(items[1].as_ref().unwrap(), &ea);
    }

    /// Gives its bytes, then fails.
    struct Failing(&'static [u8]);

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn an_io_error_names_the_line_being_read_and_ends_the_stream() {
        let mut reader = EventReader::new(BufReader::new(Failing(b"\n\n{\"id\"")));
        let err = reader.next().unwrap().unwrap_err();
        assert_eq!(err.line(), 3);
        assert!(matches!(err.kind(), ReadErrorKind::Io { .. }));
        assert_eq!(err.to_string(), "line 3: reading failed: disk on fire");
        assert!(reader.next().is_none());
        // Also while reading past an overlong line.
        let mut reader =
            EventReader::new(BufReader::new(Failing(b"\n0123456789"))).max_line_bytes(3);
        let err = reader.next().unwrap().unwrap_err();
        assert_eq!(err.line(), 2);
        assert!(matches!(err.kind(), ReadErrorKind::Io { .. }));
        assert!(reader.next().is_none());
    }

    #[test]
    fn the_example_stream_reads_as_serde_reads_each_line() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/events.ndjson");
        let text = std::fs::read_to_string(path).unwrap();
        let oracle: Vec<Event> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let file = std::fs::File::open(path).unwrap();
        let events: Vec<Event> = EventReader::new(BufReader::new(file))
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(events.len() > 10);
        assert_eq!(events, oracle);
    }

    #[test]
    fn reader_and_errors_are_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<ReadError>();
        check::<EventReader<std::io::BufReader<std::fs::File>>>();
    }

    /// The background reader hands over exactly what the reader yields
    /// (events and bad lines, in order), across chunk boundaries.
    #[test]
    fn background_reading_yields_the_same_items() {
        let mut text = String::new();
        let (mut items, mut bad) = (0, 0);
        for i in 0..5000 {
            if i % 997 == 0 {
                text.push_str("{\"id\": \"broken\"}\n");
                (items, bad) = (items + 1, bad + 1);
            } else if i % 13 == 0 {
                text.push_str("   \n");
            } else {
                text.push_str(&line(&format!("e{i}"), i).0);
                text.push('\n');
                items += 1;
            }
        }
        let plain: Vec<String> = EventReader::new(text.as_bytes())
            .map(|r| format!("{r:?}"))
            .collect();
        let bytes = std::io::Cursor::new(text.into_bytes());
        let background: Vec<String> = EventReader::new(bytes)
            .in_background()
            .unwrap()
            .map(|r| format!("{r:?}"))
            .collect();
        assert_eq!(plain.len(), items);
        assert_eq!(plain.iter().filter(|r| r.starts_with("Err")).count(), bad);
        assert_eq!(background, plain);
        // An endless stream: taking one event and dropping the iterator
        // returns at once (the thread stops at its next hand-over).
        struct Endless(Vec<u8>, usize);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let mut n = 0;
                for b in buf.iter_mut() {
                    *b = self.0[self.1 % self.0.len()];
                    self.1 += 1;
                    n += 1;
                }
                Ok(n)
            }
        }
        let one = format!("{}\n", line("x", 0).0).into_bytes();
        let mut reader = EventReader::new(BufReader::new(Endless(one, 0)))
            .in_background()
            .unwrap();
        assert!(matches!(reader.next(), Some(Ok(_))));
        drop(reader);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(b'\n'), Just(b'{'), Just(b'"')], 0..400),
            max in 0usize..64,
        ) {
            let lines = bytes.split(|b| *b == b'\n').count() as u64;
            let mut last = 0;
            for item in EventReader::new(bytes.as_slice()).max_line_bytes(max) {
                let n = match item {
                    Ok(_) => continue,
                    Err(e) => e.line(),
                };
                prop_assert!(n > last && n <= lines, "line {} of {}", n, lines);
                last = n;
            }
        }
    }
}

mod attrs_map {
    use std::collections::BTreeMap;

    use leadflow::{AttrValue, Attrs};
    use proptest::prelude::*;

    proptest! {
        /// `Attrs` behaves as a `BTreeMap` would: inserts, removals, edits
        /// in place, retain, clear and extend, order, lookups, equality
        /// (whether the map holds one entry inline or several in a
        /// slice), last value wins in JSON, and serde round-trips.
        #[test]
        fn attrs_behave_like_a_sorted_map(
            ops in proptest::collection::vec((0usize..6, any::<bool>(), -5i64..5, 0u8..20), 0..40),
        ) {
            let names = ["a", "b", "url", "Url", "z", ""];
            let mut attrs = Attrs::new();
            let mut oracle: BTreeMap<String, AttrValue> = BTreeMap::new();
            for (k, insert, v, other) in &ops {
                let name = names[*k].to_owned();
                let value = AttrValue::from(*v);
                match other {
                    0 => {
                        attrs.retain(|_, x| *x != value);
                        oracle.retain(|_, x| *x != value);
                    }
                    1 => {
                        attrs.clear();
                        oracle.clear();
                    }
                    2 | 3 => {
                        if let Some(x) = attrs.get_mut(&name) {
                            *x = value.clone();
                        }
                        if let Some(x) = oracle.get_mut(&name) {
                            *x = value;
                        }
                    }
                    4 | 5 => {
                        let more = [(name.clone(), value.clone()), (names[(*k + 1) % 6].to_owned(), value.clone())];
                        attrs.extend(more.clone());
                        oracle.extend(more);
                    }
                    _ if *insert => {
                        prop_assert_eq!(attrs.insert(name.as_str().into(), value.clone()), oracle.insert(name, value));
                    }
                    _ => prop_assert_eq!(attrs.remove(&name), oracle.remove(&name)),
                }
                // The same entries are the same map, however it got them.
                let fresh: Attrs = oracle.clone().into_iter().collect();
                prop_assert_eq!(&attrs, &fresh);
                prop_assert_eq!(attrs.is_empty(), oracle.is_empty());
            }
            let taken: Vec<_> = attrs.clone().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            prop_assert_eq!(taken, oracle.clone().into_iter().collect::<Vec<_>>());
            prop_assert_eq!(attrs.len(), oracle.len());
            let got: Vec<_> = attrs.iter().map(|(k, v)| (k.as_str(), v)).collect();
            let want: Vec<_> = oracle.iter().map(|(k, v)| (k.as_str(), v)).collect();
            prop_assert_eq!(got, want);
            for n in names {
                prop_assert_eq!(attrs.get(n), oracle.get(n));
            }
            let json = serde_json::to_string(&attrs).unwrap();
            prop_assert_eq!(&json, &serde_json::to_string(&oracle).unwrap());
            prop_assert_eq!(serde_json::from_str::<Attrs>(&json).unwrap(), attrs.clone());
            // An object naming a key twice: the last value wins, as for a map.
            let pairs: Vec<String> = ops.iter().map(|(k, _, v, _)| format!("{:?}: {v}", names[*k])).collect();
            let text = format!("{{{}}}", pairs.join(", "));
            let parsed: Attrs = serde_json::from_str(&text).unwrap();
            let want: BTreeMap<String, AttrValue> = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(
                parsed.iter().map(|(k, v)| (k.as_str(), v)).collect::<Vec<_>>(),
                want.iter().map(|(k, v)| (k.as_str(), v)).collect::<Vec<_>>()
            );
        }
    }
}

mod background_panics {
    use std::io::{BufRead, Read};

    use leadflow::{EventReader, ReadErrorKind};

    /// A reader that yields some lines, then panics.
    struct Panicking(std::io::Cursor<Vec<u8>>);
    impl Read for Panicking {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }
    impl BufRead for Panicking {
        fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
            let rest = self.0.fill_buf()?;
            assert!(!rest.is_empty(), "the source broke");
            Ok(rest)
        }
        fn consume(&mut self, n: usize) {
            self.0.consume(n)
        }
    }

    #[test]
    fn a_panicking_source_ends_with_an_error_not_a_clean_end() {
        let line = r#"{"id": "e", "lead": "ada", "at": "2026-03-02T09:00:00Z", "body": {"type": "identified", "visitor": "v"}}"#;
        let text = format!("{line}\n{line}\n");
        let reader = EventReader::new(Panicking(std::io::Cursor::new(text.into_bytes())));
        let items: Vec<_> = reader.in_background().unwrap().collect();
        assert_eq!(items.len(), 3, "two events, then the error");
        assert!(items[0].is_ok() && items[1].is_ok());
        let err = items[2].as_ref().unwrap_err();
        assert!(matches!(err.kind(), ReadErrorKind::Io { .. }), "{err}");
        assert!(err.to_string().contains("panicked"), "{err}");
    }
}

mod names_and_spans {
    use leadflow::{Actor, IngestStatus, ReasonCode, Source, Span};
    use leadflow::{Milestone, SlaState, TransitionKind};

    /// What people print is what configs and events write, and reads back.
    #[test]
    fn enums_display_their_serde_names() {
        fn check<T>(values: &[T], names: &[&str])
        where
            T: std::fmt::Display + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
        {
            for (v, name) in values.iter().zip(names) {
                assert_eq!(v.to_string(), *name);
                let back: T =
                    serde_json::from_value(serde_json::Value::String(v.to_string())).unwrap();
                assert_eq!(&back, v);
            }
        }
        check(&[Actor::Marketing, Actor::System], &["marketing", "system"]);
        check(&[Source::Partner, Source::Other], &["partner", "other"]);
        check(
            &[ReasonCode::NoBudget, ReasonCode::RuleFired],
            &["no_budget", "rule_fired"],
        );
        check(
            &[SlaState::DueSoon, SlaState::PastDue],
            &["due_soon", "past_due"],
        );
        check(&[TransitionKind::Recycled], &["recycled"]);
        check(&[Milestone::OpportunityCreated], &["opportunity_created"]);
        assert_eq!(IngestStatus::Duplicate.to_string(), "duplicate");
        assert_eq!(
            IngestStatus::ConflictingDuplicate { replaced: true }.to_string(),
            "conflicting_duplicate (replaced)"
        );
    }

    #[test]
    fn spans_convert_to_and_from_durations_without_clamping() {
        let span: Span = "36h".parse().unwrap();
        assert_eq!(chrono::TimeDelta::from(span), chrono::TimeDelta::hours(36));
        assert_eq!(
            std::time::Duration::from(span),
            std::time::Duration::from_secs(36 * 3600)
        );
        assert_eq!(Span::try_from(chrono::TimeDelta::hours(36)).unwrap(), span);
        assert_eq!(
            Span::try_from(std::time::Duration::from_secs(36 * 3600)).unwrap(),
            span
        );
        assert!(Span::try_from(chrono::TimeDelta::seconds(-1)).is_err());
        assert!(Span::try_from(chrono::TimeDelta::milliseconds(1500)).is_err());
        assert!(Span::try_from(std::time::Duration::from_millis(1)).is_err());
        assert!(Span::try_from(std::time::Duration::from_secs(u64::MAX)).is_err());
    }
}

mod second_probe {
    use leadflow::attribution::{PathReadOptions, PathReader};
    use leadflow::{Actor, AttrValue, Engine, Event, IngestStatus};

    use crate::common::activity;

    /// Only plain decimal text is read, and only numbers a JSON float
    /// carries exactly.
    #[test]
    fn decimals_are_read_from_plain_forms_only() {
        let config = |points: &str| {
            format!(
                r#"{{"lifecycle": {{"preset": "default"}},
                "scoring": {{"rules": [{{"id": "r", "when": {{"kind": "visit"}}, "points": {points}}}]}}}}"#
            )
        };
        for bad in [
            r#""1_000""#,
            r#""+5""#,
            r#"".5""#,
            r#""5.""#,
            r#"" 12""#,
            r#""12\n""#,
            r#""1e3""#,
            "123456789012.123456",
            "1e-30",
            "1e300",
        ] {
            let err = Engine::from_json(&config(bad)).unwrap_err();
            assert_eq!(err.path(), "scoring.rules[0].points", "{bad}: {err}");
        }
        let err = Engine::from_json(&config("1e300")).unwrap_err().to_string();
        assert!(err.contains("1e300"), "{err}");
        for good in [
            "0.1",
            "12",
            "-3.5",
            r#""123456789012.123456""#,
            r#""-0.25""#,
        ] {
            Engine::from_json(&config(good)).unwrap();
        }
        let deal = r#"{"id": "d", "lead": "l", "at": "2026-03-02T09:00:00Z", "body": {"type": "deal", "amount": 123456789012345.678901}}"#;
        assert!(serde_json::from_str::<Event>(deal).is_err());
    }

    /// A NaN or infinite attribute has no JSON form: refused by every entry
    /// point, so copies cannot depend on arrival order and leads save.
    #[test]
    fn non_finite_attributes_are_refused() {
        let e = Engine::from_json(r#"{"lifecycle": {"preset": "default"}}"#).unwrap();
        let nan = activity("e1", "l", 1, "visit", &[("x", AttrValue::Number(f64::NAN))]);
        let inf = activity(
            "e1",
            "l",
            1,
            "visit",
            &[("x", AttrValue::Number(f64::INFINITY))],
        );
        let mut lead = e.new_lead("l");
        let out = e.ingest(&mut lead, nan.clone());
        assert!(
            matches!(out.status, IngestStatus::Rejected(_)),
            "{:?}",
            out.status
        );
        assert_eq!(
            e.ingest(&mut lead, inf.clone())
                .status
                .to_string()
                .split(':')
                .next(),
            Some("rejected")
        );
        assert!(lead.events().is_empty());
        let replayed = e.replay("l", [nan, inf, activity("e2", "l", 2, "visit", &[])]);
        assert_eq!(replayed.events().len(), 1);
        let json = serde_json::to_string(&replayed).unwrap();
        assert_eq!(
            e.restore(serde_json::from_str(&json).unwrap()).unwrap(),
            replayed
        );
    }

    #[test]
    fn enum_names_respect_width_and_alignment() {
        assert_eq!(format!("[{:>8}]", Actor::Sales), "[   sales]");
        assert_eq!(format!("[{:<8}]", Actor::Sales), "[sales   ]");
    }

    /// Blank lines are ASCII whitespace however the input is buffered, and
    /// a line that is not UTF-8 still counts for the numbers after it.
    #[test]
    fn path_rows_read_the_same_whatever_the_buffering() {
        let rows = |bytes: &[u8], capacity: Option<usize>| -> Vec<String> {
            let input: Box<dyn std::io::BufRead> = match capacity {
                None => Box::new(std::io::Cursor::new(bytes.to_vec())),
                Some(k) => Box::new(std::io::BufReader::with_capacity(
                    k,
                    std::io::Cursor::new(bytes.to_vec()),
                )),
            };
            let mut reader = PathReader::new(input, PathReadOptions::default()).unwrap();
            let mut out = Vec::new();
            for _ in 0..5 {
                match reader.next_row() {
                    Ok(Some(r)) => out.push(format!("{:?}", r.channels().collect::<Vec<_>>())),
                    Ok(None) => break,
                    Err(e) => out.push(format!("line {}", e.line)),
                }
            }
            out
        };
        for text in [
            &b"path,total_conversions\na,1\n\xe3\x80\x80\nb,2\n"[..],
            &b"path,total_conversions\n\xff,1\n,1\n"[..],
            &b"path,total_conversions\n\"\xff\",1\n,1\n"[..],
        ] {
            let want = rows(text, None);
            for k in 1..16 {
                assert_eq!(
                    rows(text, Some(k)),
                    want,
                    "{text:?} through {k}-byte buffers"
                );
            }
        }
        assert_eq!(
            rows(b"path,total_conversions\n\xff,1\n,1\n", None),
            ["line 2", "line 3"]
        );
    }
}
