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
        assert!(message.contains("invalid type"), "{message}");
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
