//! The house checks itself: the module graph of `src/` has no cycle (between top-level modules,
//! nor between the modules inside one), every arrow between top-level modules is one that
//! `ARCHITECTURE.md` allows, and none of the arrows the architecture forbids exists.

mod graph;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use graph::{cycles, graph, Graph};

/// Arrows that must never exist, whatever ARCHITECTURE.md says (the data flows config →
/// schedule → probe → report → sinks; the sinks never reach back).
const NEVER: &[(&str, &str, &str)] = &[
    ("probe", "metrics", "probing knows nothing of metrics"),
    ("probe", "alert", "probing knows nothing of alerts"),
    ("probe", "http", "probing knows nothing of the web"),
    ("probe", "schedule", "a probe does not know when it runs"),
    ("probe", "agent", "a probe does not know the agent"),
    ("report", "probe", "the report is plain data"),
    ("alert", "probe", "alerts read reports, not sockets"),
    ("metrics", "alert", "two sinks side by side"),
    ("alert", "metrics", "two sinks side by side"),
    (
        "config",
        "cli",
        "the file's schema does not depend on the command line",
    ),
    (
        "config",
        "alert",
        "configuration is read before any sink exists",
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The "may use" column of ARCHITECTURE.md's module table: module → modules it may use.
fn allowed() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let names = |cell: &str| -> BTreeSet<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').collect();
            let module = names(cells.get(1)?).into_iter().next()?;
            Some((module, names(cells.get(3)?)))
        })
        .collect()
}

fn describe(graph: &Graph) -> String {
    graph
        .iter()
        .filter(|(_, to)| !to.is_empty())
        .map(|(from, to)| {
            format!(
                "  {from} -> {}\n",
                to.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect()
}

#[test]
fn top_level_modules_form_no_cycle_and_use_only_what_architecture_md_allows() {
    let graph = graph(&root().join("src"), 1);
    let allowed = allowed();
    let mut problems = Vec::new();
    for cycle in cycles(&graph) {
        problems.push(format!("cycle among {}", cycle.join(", ")));
    }
    for (from, tos) in &graph {
        let Some(may) = allowed.get(from) else {
            problems.push(format!(
                "module {from} is missing from ARCHITECTURE.md's table"
            ));
            continue;
        };
        for to in tos.difference(may) {
            problems.push(format!(
                "{from} -> {to} is not in ARCHITECTURE.md's \"may use\""
            ));
        }
    }
    for module in allowed.keys().filter(|m| !graph.contains_key(*m)) {
        problems.push(format!(
            "ARCHITECTURE.md lists {module}, which src/ does not have"
        ));
    }
    for (from, to, why) in NEVER {
        if graph.get(*from).is_some_and(|t| t.contains(*to)) {
            problems.push(format!("forbidden arrow {from} -> {to}: {why}"));
        }
        if allowed.get(*from).is_some_and(|t| t.contains(*to)) {
            problems.push(format!(
                "ARCHITECTURE.md allows the forbidden {from} -> {to}: {why}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\narrows:\n{}",
        problems.join("\n"),
        describe(&graph)
    );
}

#[test]
fn modules_inside_each_top_level_module_form_no_cycle() {
    let graph = graph(&root().join("src"), 2);
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "cycles: {found:?}\narrows:\n{}",
        describe(&graph)
    );
}

/// The checker itself finds what it must: a cycle through `super::`, a `use crate::{…}` group,
/// and nothing in comments, strings or test code.
#[test]
fn the_graph_reader_sees_groups_super_and_ignores_comments_strings_and_tests() {
    let dir = std::env::temp_dir().join(format!("smtpwatch-arch-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("a")).expect("mkdir");
    let write = |path: &str, text: &str| std::fs::write(src.join(path), text).expect("write");
    write("lib.rs", "pub mod a; pub mod b; pub mod c;");
    write(
        "a/mod.rs",
        "pub mod x; pub mod y;\n// crate::c is only mentioned\nconst S: &str = \"crate::c\";",
    );
    write("a/x.rs", "use super::y::Thing;\nfn f() -> char { '\"' }");
    write(
        "a/y.rs",
        "use super::x;\npub struct Thing;\n#[cfg(test)]\nmod tests { use crate::c; }",
    );
    write("b.rs", "use crate::{a::x::f, c};");
    write("c.rs", "fn g<'a>(s: &'a str) -> &'a str { crate::b::h(s) }");
    let top = graph(&src, 1);
    let inner = graph(&src, 2);
    std::fs::remove_dir_all(&dir).expect("clean up");
    assert_eq!(
        top["a"],
        BTreeSet::new(),
        "comments, strings and tests do not count"
    );
    assert_eq!(top["b"], BTreeSet::from(["a".to_string(), "c".to_string()]));
    assert_eq!(cycles(&top), vec![vec!["b".to_string(), "c".to_string()]]);
    let inside_a = vec!["a::x".to_string(), "a::y".to_string()];
    assert!(cycles(&inner).contains(&inside_a), "{:?}", cycles(&inner));
}
