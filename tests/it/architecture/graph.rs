//! The module graph of `src/`, read from the source text: every `crate::…`, `super::…` and
//! `self::…` path names a module the file uses. Test code (`tests.rs`, `#[cfg(test)]` blocks)
//! is left out, as are comments and string literals.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module (e.g. `alert::deliver`) → the modules it uses, at the given depth.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The module path of a source file: `src/alert/deliver.rs` → `["alert", "deliver"]`,
/// `src/alert/mod.rs` → `["alert"]`; `lib.rs` and `main.rs` are the root (empty).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text without comments, string and char literals, and `#[cfg(test)]` items.
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if rest.starts_with("r#\"") || rest.starts_with("r\"") {
            let hashes = rest[1..].chars().take_while(|&c| c == '#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes;
            i += body
                + rest[body..]
                    .find(&close)
                    .map_or(rest.len() - body, |e| e + close.len());
        } else if bytes[i] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            i = j + 1;
        } else if let Some(len) = char_literal(rest) {
            i += len;
        } else if rest.starts_with("#[cfg(test)]") {
            i += skip_item(rest);
        } else {
            let c = rest.chars().next().expect("non-empty");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The length of a char literal at the start of `text` (`'a'`, `'\n'`, `'\''`); `None` for a
/// lifetime (`'a`) or anything else.
fn char_literal(text: &str) -> Option<usize> {
    if !text.starts_with('\'') {
        return None;
    }
    let mut chars = text.char_indices().skip(1);
    let (_, first) = chars.next()?;
    if first == '\\' {
        let close = text.get(3..)?.find('\'')?;
        return Some(close + 4);
    }
    let (at, second) = chars.next()?;
    (first != '\'' && second == '\'').then_some(at + 1)
}

/// The length of the attribute and the item it annotates (up to `;` or the matching `}`).
fn skip_item(text: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in text.char_indices().skip("#[cfg(test)]".len()) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            ';' if depth == 0 => return i + 1,
            _ => {}
        }
    }
    text.len()
}

/// Every path that starts with `crate::`, `super::` or `self::`, with `use` groups expanded:
/// `use crate::{a::x, b::{y, z}}` gives `crate::a::x`, `crate::b::y`, `crate::b::z`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start).map(|p| p + from) {
            from = at + start.len();
            let before = at.checked_sub(1).map(|b| bytes[b]);
            if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
                continue;
            }
            let head = start.trim_end_matches(':').to_string();
            expand(&code[from..], vec![head], &mut found);
        }
    }
    found
}

/// Reads one path (or `{…}` group) after `prefix::` and pushes every full path.
fn expand(text: &str, prefix: Vec<String>, found: &mut Vec<Vec<String>>) {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 0;
        let mut part = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&part, prefix.clone(), found);
                    part.clear();
                    continue;
                }
                _ => {}
            }
            part.push(c);
        }
        if !part.trim().is_empty() {
            expand(&part, prefix, found);
        }
        return;
    }
    let ident: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if ident.is_empty() || ident == "self" {
        found.push(prefix);
        return;
    }
    let mut path = prefix;
    path.push(ident.clone());
    let after = &text[ident.len()..];
    match after.strip_prefix("::") {
        Some(more) => expand(more, path, found),
        None => found.push(path),
    }
}

/// Resolves a path written in module `me` to an absolute path from the crate root.
fn absolute(me: &[String], path: &[String]) -> Vec<String> {
    // `self::` is the module itself (`a` in `a/mod.rs`); `super::` its parent.
    let mut base: Vec<String> = me.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().is_some_and(|p| p == "super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        _ => {}
    }
    base.extend(rest.iter().cloned());
    base
}

/// The graph of `src` at `depth` (1: top-level modules; 2: also their children).
pub fn graph(src: &Path, depth: usize) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut modules: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut uses: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let me = module_path(src, file);
        if me.is_empty() {
            continue;
        }
        // Files under a `tests` folder are test modules too.
        if me.iter().any(|p| p == "tests") {
            continue;
        }
        modules.insert(me.clone());
        let text = std::fs::read_to_string(file).expect("read source");
        for path in paths(&code_only(&text)) {
            uses.push((me.clone(), absolute(&me, &path)));
        }
    }
    let cut = |m: &[String]| m[..m.len().min(depth)].join("::");
    let known: BTreeSet<String> = modules.iter().map(|m| cut(m)).collect();
    let mut graph: Graph = known.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for (from, to) in uses {
        // The longest known module that prefixes the used path.
        let target = (1..=to.len().min(depth))
            .rev()
            .map(|n| to[..n].join("::"))
            .find(|m| known.contains(m));
        let (Some(target), source) = (target, cut(&from)) else {
            continue;
        };
        if target != source {
            graph.entry(source).or_default().insert(target);
        }
    }
    graph
}

/// Every strongly connected component of more than one module.
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    // Kosaraju: finish order on the graph, then components on the reversed graph.
    fn visit(v: &str, graph: &Graph, seen: &mut BTreeSet<String>, order: &mut Vec<String>) {
        if !seen.insert(v.to_string()) {
            return;
        }
        for w in graph.get(v).into_iter().flatten() {
            visit(w, graph, seen, order);
        }
        order.push(v.to_string());
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for v in graph.keys() {
        visit(v, graph, &mut seen, &mut order);
    }
    let mut reversed: Graph = BTreeMap::new();
    for (from, tos) in graph {
        for to in tos {
            reversed.entry(to.clone()).or_default().insert(from.clone());
        }
    }
    let mut assigned = BTreeSet::new();
    let mut components = Vec::new();
    for v in order.iter().rev() {
        let mut component = Vec::new();
        visit(v, &reversed, &mut assigned, &mut component);
        if component.len() > 1 {
            component.sort();
            components.push(component);
        }
    }
    components
}
