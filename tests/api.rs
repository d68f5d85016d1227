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
