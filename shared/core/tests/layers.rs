//! The domain crate's layers, read from its own sources: no two top-level modules import each
//! other through any chain, and the modules everything stands on (the ports, the error type,
//! ids, the clock) import none of the domain above them. A new import that breaks either fails
//! here with the chain that closes the circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules below every service: they may import each other, never a domain module.
const FOUNDATIONS: &[&str] = &["clock", "error", "ids", "json", "ports", "secret"];

/// Top-level module → the top-level modules its production code names through `crate::`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut todo = vec![src.clone()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).expect("under src");
            let Some(first) = relative.components().next() else {
                continue;
            };
            let module = first
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            let is_test_file = path.file_name().is_some_and(|n| n == "tests.rs");
            if module == "lib" || is_test_file || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let production = text.split("#[cfg(test)]").next().unwrap_or_default();
            let named = found.entry(module.clone()).or_default();
            for target in named_modules(production) {
                if target != module {
                    named.insert(target);
                }
            }
        }
    }
    found
}

/// The top-level modules a source names: `crate::x…` paths, and the items of `use crate::{…}`.
fn named_modules(source: &str) -> BTreeSet<String> {
    let lowercase_word =
        |word: &str| word.chars().next().is_some_and(|c| c.is_ascii_lowercase()) && word != "self";
    let mut named = BTreeSet::new();
    for (at, _) in source.match_indices("crate::") {
        let rest = &source[at + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            // The first word of each depth-one item: `a` of `a::b`, `c`, `d` of `d::{e, f}`.
            let mut depth = 0;
            let mut item = String::new();
            let mut in_word = true;
            for c in list.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        in_word = false;
                    }
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        if lowercase_word(&item) {
                            named.insert(std::mem::take(&mut item));
                        }
                        item.clear();
                        in_word = true;
                    }
                    c if depth == 0 && in_word && (c.is_alphanumeric() || c == '_') => item.push(c),
                    c if depth == 0 && !item.is_empty() && !c.is_whitespace() => in_word = false,
                    _ => {}
                }
            }
            if lowercase_word(&item) {
                named.insert(item);
            }
        } else {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if lowercase_word(&word) {
                named.insert(word);
            }
        }
    }
    named
}

/// A chain of imports from `from` back to itself, if there is one.
fn circle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut paths = vec![vec![from.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = paths.pop() {
        let last = path.last().cloned().unwrap_or_default();
        for next in graph.get(&last).into_iter().flatten() {
            if next == from {
                let mut circle = path.clone();
                circle.push(next.clone());
                return Some(circle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                paths.push(longer);
            }
        }
    }
    None
}

#[test]
fn no_module_imports_itself_through_others() {
    let graph = imports();
    assert!(graph.contains_key("workflows") && graph.contains_key("ports"));
    let circles: Vec<String> = graph
        .keys()
        .filter_map(|module| circle_through(&graph, module))
        .map(|circle| circle.join(" → "))
        .collect();
    assert!(circles.is_empty(), "import circles: {circles:#?}");
}

#[test]
fn the_foundations_import_no_domain_module() {
    let graph = imports();
    for foundation in FOUNDATIONS {
        let above: Vec<&String> = graph
            .get(*foundation)
            .into_iter()
            .flatten()
            .filter(|target| !FOUNDATIONS.contains(&target.as_str()))
            .collect();
        assert!(above.is_empty(), "{foundation} imports {above:?}");
    }
}

#[test]
fn imports_are_read_from_paths_and_lists() {
    let named = named_modules(
        "use crate::ports::{Item, Key};\nuse crate::{Clock, Error, ids, table_keys::tenant, delivery::{a, b}};\nlet x = crate::json::to_json(&y);",
    );
    let expected: BTreeSet<String> = ["delivery", "ids", "json", "ports", "table_keys"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(named, expected);
}
