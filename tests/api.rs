//! The public surface has one path per item: the crate root holds the
//! core types, and the public namespaces (`attribution`, `funnel`,
//! `predict`) hold what is theirs alone. Read from `src/lib.rs` itself, so
//! a new `pub mod` or re-export that gives an item a second path fails
//! here.

#[test]
fn every_item_has_one_path() {
    let lib = include_str!("../src/lib.rs");
    let public_modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    assert_eq!(public_modules, ["attribution", "funnel", "predict"]);
    // Root re-exports, one `pub use module::…` statement at a time.
    let mut reexported_from = Vec::new();
    let mut names = Vec::new();
    for statement in lib.split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let (module, items) = rest.split_once("::").unwrap();
        reexported_from.push(module.trim().to_owned());
        let items = items.trim().trim_start_matches('{').trim_end_matches('}');
        names.extend(
            items
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
        );
    }
    for m in &public_modules {
        assert!(
            !reexported_from.iter().any(|r| r == m),
            "items of the public module {m} are re-exported at the root too"
        );
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "an item is re-exported twice");
    // The namespaces' own items are not also at the root.
    for (namespace, item) in [
        ("predict", "Model"),
        ("attribution", "Journey"),
        ("funnel", "Funnel"),
    ] {
        assert!(
            !names.iter().any(|n| n == item),
            "{namespace}::{item} is also at the root"
        );
    }
}

/// No function in `src/` is longer than 80 lines (from its `fn` line to
/// its closing brace): long functions are split into named steps.
#[test]
fn no_function_is_longer_than_80_lines() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut long = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            let body = line.trim_start();
            let indent = line.len() - body.len();
            let is_fn = [
                "fn ",
                "pub fn ",
                "pub(crate) fn ",
                "const fn ",
                "pub const fn ",
            ]
            .iter()
            .any(|p| body.starts_with(p));
            if is_fn && !body.trim_end().ends_with(';') {
                let closing = " ".repeat(indent) + "}";
                let end = (i + 1..lines.len())
                    .find(|&j| {
                        lines[j].starts_with(&closing)
                            && lines[j].len() - lines[j].trim_start().len() == indent
                    })
                    .unwrap_or(i);
                if end - i + 1 > 80 {
                    long.push(format!(
                        "{}:{} ({} lines)",
                        file.display(),
                        i + 1,
                        end - i + 1
                    ));
                }
                i = end;
            }
            i += 1;
        }
    }
    assert!(long.is_empty(), "functions over 80 lines: {long:#?}");
}

/// Cards print themselves, and a refused config's reason travels as data.
#[test]
fn cards_print_and_config_errors_serialize() {
    use crate::common::{activity, attrs, created, t};
    let engine = leadflow::Engine::from_json(
        r#"{"lifecycle": {"preset": "waterfall"},
            "scoring": {"rules": [{"id": "pricing", "when": {"kind": "page_view"}, "points": 15}]},
            "grading": {"criteria": [{"id": "size", "when": {"attr": "employees", "op": "range", "min": 100}, "weight": 2}]}}"#,
    )
    .unwrap();
    let mut lead = engine.new_lead("l");
    engine.ingest(
        &mut lead,
        created("c", "l", 0, "Anonymous", leadflow::Source::Marketing),
    );
    engine.ingest(&mut lead, activity("p", "l", 60, "page_view", &[]));
    engine.ingest(
        &mut lead,
        attrs("a", "l", 61, &[("employees", 250.0.into())], &[]),
    );
    let card = engine.score_card(&lead, t(120)).to_string();
    assert!(
        card.starts_with("score 15 at 2026-03-02 11:00 UTC"),
        "{card}"
    );
    assert!(
        card.contains("pricing") && card.contains("page_view") && card.contains("+15, now 15"),
        "{card}"
    );
    let grade = engine.grade_card(&lead).to_string();
    assert!(
        grade.contains("size (employees, weight 2): matched"),
        "{grade}"
    );

    let err = leadflow::Engine::from_json(r#"{"lifecycle": {"preset": "default"}, "scoring": {"rules": [{"id": "", "when": {"kind": "x"}, "points": 1}]}}"#)
        .unwrap_err();
    let json = serde_json::to_value(&err).unwrap();
    assert_eq!(json["path"], "scoring.rules[0].id");
    assert_eq!(json["kind"]["error"], "empty_name");
    let back: leadflow::ConfigError = serde_json::from_value(json).unwrap();
    assert_eq!(back, err);
}

#[test]
fn config_errors_refuse_unknown_fields_and_slas_stay_representable() {
    let read = serde_json::from_str::<leadflow::ConfigError>;
    assert!(read(r#"{"path":"x","kind":{"error":"empty_name"}}"#).is_ok());
    assert!(read(r#"{"path":"x","kind":{"error":"empty_name"},"extra":1}"#).is_err());
    // A due time must be a date chrono can hold: an SLA over a century is
    // refused at its path.
    let err = leadflow::Engine::from_json(
        r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "open"},
            {"name": "B", "rank": 1, "kind": "sla", "within": "100000000d"}], "initial": "A"}}"#,
    )
    .unwrap_err();
    assert_eq!(err.path(), "lifecycle.stages[1].within");
    assert!(
        leadflow::Engine::from_json(
            r#"{"lifecycle": {"stages": [{"name": "A", "rank": 0, "kind": "open"},
                {"name": "B", "rank": 1, "kind": "sla", "within": "36500d"}], "initial": "A"}}"#,
        )
        .is_ok()
    );
}

/// The module graph has no cycle: reading `crate::<module>` references in
/// each top-level module of `src/`, no module reaches itself.
#[test]
fn the_module_graph_has_no_cycle() {
    use std::collections::{BTreeMap, BTreeSet};
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            if top == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let set = deps.entry(top.clone()).or_default();
            for (i, _) in text.match_indices("crate::") {
                let name: String = text[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    set.insert(name);
                }
            }
        }
    }
    for start in deps.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = deps[start].iter().collect();
        while let Some(m) = todo.pop() {
            assert_ne!(m, start, "module {start} reaches itself");
            if seen.insert(m.clone()) {
                todo.extend(deps.get(m).into_iter().flatten());
            }
        }
    }
    assert!(deps.len() > 10, "read the modules: {deps:?}");
}

/// Inverted bounds name their values as values, not text.
#[test]
fn inverted_bounds_are_structured() {
    let kind = |json: &str| {
        leadflow::Engine::from_json(json)
            .unwrap_err()
            .kind()
            .clone()
    };
    assert_eq!(
        kind(
            r#"{"lifecycle": {"preset": "default"}, "scoring": {"groups": [{"name": "g", "min": 10, "max": 5}]}}"#
        ),
        leadflow::ConfigErrorKind::CapsInverted {
            min: rust_decimal::Decimal::from(10),
            max: rust_decimal::Decimal::from(5)
        }
    );
    let from = crate::common::t(60);
    let until = crate::common::t(0);
    let json = format!(
        r#"{{"lifecycle": {{"preset": "default"}}, "scoring": {{"rules": [{{"id": "r", "when": {{"kind": "k"}}, "points": 1,
            "valid_from": "{}", "valid_until": "{}"}}]}}}}"#,
        from.to_rfc3339(),
        until.to_rfc3339()
    );
    assert_eq!(
        kind(&json),
        leadflow::ConfigErrorKind::WindowInverted { from, until }
    );
    assert_eq!(
        kind(
            r#"{"lifecycle": {"preset": "default"}, "grading": {"criteria": [{"id": "c", "when": {"attr": "a", "op": "range", "min": 5, "max": 1}, "weight": 1}]}}"#
        ),
        leadflow::ConfigErrorKind::MinAboveMax { min: 5.0, max: 1.0 }
    );
}

/// Predicates refuse operands their operator does not read, and name the
/// operator as configs write it; span conversions say what a span must be;
/// attribution models read by the names their reports carry.
#[test]
fn operands_spans_and_model_names_read_as_written() {
    let err = |json: &str| leadflow::Engine::from_json(json).unwrap_err().to_string();
    let e = err(
        r#"{"lifecycle": {"preset": "default"}, "grading": {"criteria": [{"id": "c", "when": {"attr": "a", "op": "equals", "value": 1, "values": [2]}, "weight": 1}]}}"#,
    );
    assert_eq!(
        e,
        "grading.criteria[0].when.values: operator equals does not read `values`"
    );
    let e = err(
        r#"{"lifecycle": {"preset": "default"}, "grading": {"criteria": [{"id": "c", "when": {"attr": "a", "op": "in_list"}, "weight": 1}]}}"#,
    );
    assert!(
        e.contains("`list` of operator in_list must not be empty"),
        "{e}"
    );
    let e = leadflow::Span::try_from(chrono::TimeDelta::seconds(-5))
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-negative"), "{e}");
    for (name, reported) in [
        ("w", "w_shaped"),
        ("w_shaped", "w_shaped"),
        ("j_shaped", "j_shaped"),
        ("full_path", "full_path"),
    ] {
        let config: leadflow::attribution::ModelConfig =
            serde_json::from_str(&format!(r#"{{"model": "{name}"}}"#)).unwrap();
        assert_eq!(config.build().unwrap().name(), reported);
    }
}
