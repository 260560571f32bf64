//! The house's one-way rule, checked on the source: no import circles, and no module importing
//! one above it (issue #20).
//!
//! The graph is file-level. An edge `a.rs -> b.rs` means `a.rs` names a path (`use crate::…`,
//! `crate::…` in code, `super::…`, `self::…`, or a path that starts with a child module it
//! declares) that resolves to the module file `b.rs`: the deepest existing module file of the
//! path (`crate::a::b::C` is `a/b.rs` or `a/b/mod.rs` when it exists, else `a.rs`/`a/mod.rs`).
//! Two kinds of edge are violations:
//!
//! - **cycle**: the edge lies on a circle of files;
//! - **upward**: `b.rs` is an ancestor module file of `a.rs` (`tracker/dispatch.rs` using
//!   `super::Tracker` defined in `tracker.rs`, or anything using an item of `lib.rs`). Shared
//!   types go into a leaf module both use; the parent only declares and re-exports.
//!
//! Exempt: whatever stands under `#[cfg(test)]` (inline `mod tests { … }` blocks, and the files
//! that a `#[cfg(test)] mod x;` declares, with everything below them). `mod x;` declarations are
//! not imports. An inline module (`mod x { … }`) is part of its file: its `super::` and `self::`
//! start from it. Not modelled (none of the crates checked here needs it): `#[path]` attributes,
//! files declared inside an inline module, and `crate::` in a second crate root (`main.rs`,
//! `bin/`), which is resolved as if it were the library's.
//!
//! A hand-written scanner (no parser dependency): comments, string and character literals are
//! blanked first, so a path in a doc comment or a string is not an import.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

/// Every violation of the rule under `src_root` (a crate's `src/`), one line each:
/// `a.rs -> b.rs (cycle a.rs -> b.rs -> a.rs)` or `a.rs -> b.rs (upward)`. Empty when the tree
/// keeps the rule.
fn violations(src_root: &Path) -> Vec<String> {
    let graph = Graph::read(src_root);
    let mut out = Vec::new();
    for (from, to) in graph.edges() {
        if is_ancestor(&graph.modules[to], &graph.modules[from]) {
            out.push(format!("{from} -> {to} (upward)"));
        }
        if let Some(back) = graph.path(to, from) {
            let mut circle = vec![from.as_str()];
            circle.extend(back.iter().map(String::as_str));
            out.push(format!("{from} -> {to} (cycle {})", circle.join(" -> ")));
        }
    }
    out
}

/// The file-level import graph of one crate: files by their path relative to `src/`
/// (`tracker/dispatch.rs`), each with its module path and the files it imports from.
struct Graph {
    /// File → module path (`tracker/dispatch.rs` → `["tracker", "dispatch"]`; `lib.rs` → `[]`).
    modules: BTreeMap<String, Vec<String>>,
    /// Module path → file, for resolving.
    files: BTreeMap<Vec<String>, String>,
    imports: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    fn read(src_root: &Path) -> Graph {
        let mut paths = Vec::new();
        rust_files(src_root, &mut paths);
        let mut graph = Graph {
            modules: BTreeMap::new(),
            files: BTreeMap::new(),
            imports: BTreeMap::new(),
        };
        let mut sources = BTreeMap::new();
        for path in paths {
            let rel = path
                .strip_prefix(src_root)
                .expect("under the root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let module = module_path(&rel);
            let text = fs::read_to_string(&path).expect("readable source");
            graph.files.entry(module.clone()).or_insert(rel.clone());
            graph.modules.insert(rel.clone(), module);
            sources.insert(rel, text);
        }
        // Files that only exist for the tests: declared under `#[cfg(test)]`, and all below them.
        let mut test_only = BTreeSet::new();
        for (rel, text) in &sources {
            for (name, test) in declared_modules(&blank_literals(text)) {
                if test {
                    let mut m = graph.modules[rel].clone();
                    m.push(name);
                    test_only.insert(m);
                }
            }
        }
        let exempt = |m: &Vec<String>| test_only.iter().any(|t| is_ancestor_or_self(t, m));
        for (rel, text) in &sources {
            let module = graph.modules[rel].clone();
            if exempt(&module) {
                continue;
            }
            let code = strip_test_items(&blank_literals(text));
            let children: BTreeSet<String> = declared_modules(&code)
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            let mut targets = BTreeSet::new();
            for (within, path) in paths_named(&code, &children) {
                let Some(absolute) = absolute(&[module.clone(), within].concat(), &path) else {
                    continue;
                };
                if let Some(file) = graph.resolve(&absolute) {
                    if file != *rel && !exempt(&graph.modules[&file]) {
                        targets.insert(file);
                    }
                }
            }
            graph.imports.insert(rel.clone(), targets);
        }
        graph
    }

    fn edges(&self) -> Vec<(&String, &String)> {
        self.imports
            .iter()
            .flat_map(|(from, tos)| tos.iter().map(move |to| (from, to)))
            .collect()
    }

    /// The deepest module file of `path` (an absolute module path, items included).
    fn resolve(&self, path: &[String]) -> Option<String> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.files.get(&path[..n]).cloned())
    }

    /// The shortest chain of files from `from` to `to` (both included), breadth first.
    fn path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([from]);
        while let Some(at) = queue.pop_front() {
            if at == to {
                let mut chain = vec![to.to_owned()];
                let mut cur = to;
                while cur != from {
                    cur = came_from[cur];
                    chain.push(cur.to_owned());
                }
                chain.reverse();
                return Some(chain);
            }
            for next in self.imports.get(at).into_iter().flatten() {
                if next != from && !came_from.contains_key(next.as_str()) {
                    came_from.insert(next, at);
                    queue.push_back(next);
                }
            }
        }
        None
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("a source directory")
        .map(|e| e.expect("a directory entry").path())
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

/// `a/b.rs` and `a/b/mod.rs` → `[a, b]`; `lib.rs`, `main.rs` → `[]`.
fn module_path(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !(stem == "mod" || (parts.is_empty() && (stem == "lib" || stem == "main"))) {
        parts.push(stem.to_owned());
    }
    parts
}

fn is_ancestor(outer: &[String], inner: &[String]) -> bool {
    outer.len() < inner.len() && inner.starts_with(outer)
}

fn is_ancestor_or_self(outer: &[String], inner: &[String]) -> bool {
    inner.starts_with(outer)
}

/// `path` (its first segment `crate`, `super`, `self` or a child module) from the module
/// `module`, as a path from the crate root; `None` for another crate's path.
fn absolute(module: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut base = module.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        Some(_) => {} // a child module of this one (the caller checked)
        None => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// `text` with comments, string literals and character literals replaced by spaces (newlines
/// kept), so what is left is code.
fn blank_literals(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let blank = |out: &mut String, from: &[char]| {
        out.extend(from.iter().map(|&ch| if ch == '\n' { '\n' } else { ' ' }));
    };
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        let prev_ident = i > 0 && ident(c[i - 1]);
        let start = i;
        if at(i) == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if at(i) == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some((prefix, hashes)) = raw_string_start(&c, i).filter(|_| !prev_ident) {
            // r"…", r#"…"#, br"…"
            i += prefix + hashes + 1;
            while i < c.len() {
                if at(i) == '"' && (1..=hashes).all(|h| at(i + h) == '#') {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
        } else if at(i) == '"' {
            i += 1;
            while i < c.len() && at(i) != '"' {
                i += if at(i) == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if at(i) == '\'' && (at(i + 1) == '\\' || (at(i + 2) == '\'' && at(i + 1) != '\'')) {
            // A character literal ('x', '\n', '\u{1F600}'); a lifetime ('a) has no closing quote.
            i += 1;
            while i < c.len() && at(i) != '\'' {
                i += if at(i) == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
            continue;
        }
        let end = i.min(c.len());
        blank(&mut out, &c[start..end]);
    }
    out
}

/// At `c[i]`, the start of a raw string literal (`r"`, `r#"`, `br##"`): the length of its `r` or
/// `br` and its number of `#`.
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    let prefix = match (c.get(i), c.get(i + 1)) {
        (Some('r'), _) => 1,
        (Some('b'), Some('r')) => 2,
        _ => return None,
    };
    let hashes = c[i + prefix..].iter().take_while(|&&ch| ch == '#').count();
    (c.get(i + prefix + hashes) == Some(&'"')).then_some((prefix, hashes))
}

/// The identifier-and-punctuation tokens of code, each with its byte offset.
fn tokens(code: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
            {
                i += 1;
            }
            out.push((start, &code[start..i]));
        } else if b == b':' && bytes.get(i + 1) == Some(&b':') {
            out.push((i, "::"));
            i += 2;
        } else if b.is_ascii_whitespace() {
            i += 1;
        } else {
            out.push((i, &code[i..i + 1]));
            i += 1;
        }
    }
    out
}

/// The index of the token that closes the group opened at `open` (`{`/`}`, `(`/`)`, `[`/`]`).
fn closing(toks: &[(usize, &str)], open: usize) -> usize {
    let mut depth = 0i32;
    for (k, (_, t)) in toks.iter().enumerate().skip(open) {
        match *t {
            "{" | "(" | "[" => depth += 1,
            "}" | ")" | "]" => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    toks.len().saturating_sub(1)
}

/// The end (token index, exclusive) of the item starting at `start`: through its first `;` or
/// its first `{ … }` group at the top level.
fn item_end(toks: &[(usize, &str)], start: usize) -> usize {
    let mut k = start;
    while k < toks.len() {
        match toks[k].1 {
            ";" => return k + 1,
            "{" => return closing(toks, k) + 1,
            "(" | "[" => k = closing(toks, k) + 1,
            _ => k += 1,
        }
    }
    toks.len()
}

/// Whether the attribute starting at token `k` (`#`) is exactly `#[cfg(test)]`, and where it ends.
fn attribute(toks: &[(usize, &str)], k: usize) -> Option<(bool, usize)> {
    if toks.get(k)?.1 != "#" {
        return None;
    }
    let open = if toks.get(k + 1)?.1 == "!" {
        k + 2
    } else {
        k + 1
    };
    if toks.get(open)?.1 != "[" {
        return None;
    }
    let close = closing(toks, open);
    let words: Vec<&str> = toks[open + 1..close].iter().map(|t| t.1).collect();
    Some((words == ["cfg", "(", "test", ")"], close + 1))
}

/// `code` with every item under `#[cfg(test)]` left out (its lines kept, empty).
fn strip_test_items(code: &str) -> String {
    let toks = tokens(code);
    let mut out = String::with_capacity(code.len());
    let mut kept = 0; // `code[..kept]` is dealt with
    let mut k = 0;
    while k < toks.len() {
        let Some((is_test, mut next)) = attribute(&toks, k) else {
            k += 1;
            continue;
        };
        if !is_test {
            k = next;
            continue;
        }
        // Further attributes on the same item.
        while let Some((_, after)) = attribute(&toks, next) {
            next = after;
        }
        let end = item_end(&toks, next);
        let from = toks[k].0;
        let to = toks.get(end).map_or(code.len(), |t| t.0);
        out.push_str(&code[kept..from]);
        out.extend(code[from..to].chars().filter(|&ch| ch == '\n'));
        kept = to;
        k = end;
    }
    out.push_str(&code[kept..]);
    out
}

/// The modules a file declares with `mod x;` (not inline `mod x { … }`), and whether each stands
/// under `#[cfg(test)]`.
fn declared_modules(code: &str) -> Vec<(String, bool)> {
    let toks = tokens(code);
    let mut out = Vec::new();
    let mut test = false;
    let mut k = 0;
    while k < toks.len() {
        if let Some((is_test, next)) = attribute(&toks, k) {
            test |= is_test;
            k = next;
            continue;
        }
        let t = toks[k].1;
        if t == "mod" {
            if let (Some((_, name)), Some((_, ";"))) = (toks.get(k + 1), toks.get(k + 2)) {
                out.push(((*name).to_owned(), test));
            }
        }
        // Visibility and the item keyword keep the attributes seen so far; anything else ends them.
        if !matches!(t, "pub" | "(" | ")" | "crate" | "super" | "in" | "self") {
            test = false;
        }
        k += 1;
    }
    out
}

/// Every path in `code` that may name a module of this crate: the leaves of its `use` trees and
/// the paths in code that start with `crate`, `super`, `self` or one of `children`; each with the
/// inline modules (`mod x { … }`) it stands in, which its `self` and `super` start from.
fn paths_named(code: &str, children: &BTreeSet<String>) -> Vec<(Vec<String>, Vec<String>)> {
    let toks = tokens(code);
    let mut inline: Vec<(String, usize)> = Vec::new(); // name, index of its closing `}`
    let mut out = Vec::new();
    let mut k = 0;
    while k < toks.len() {
        while inline.last().is_some_and(|m| m.1 < k) {
            inline.pop();
        }
        let within: Vec<String> = inline.iter().map(|m| m.0.clone()).collect();
        // A child module is named bare only from the file's own top level.
        let local = |first: &str| {
            matches!(first, "crate" | "super" | "self")
                || (within.is_empty() && children.contains(first))
        };
        let t = toks[k].1;
        if t == "mod" && toks.get(k + 2).map(|t| t.1) == Some("{") {
            inline.push((toks[k + 1].1.to_owned(), closing(&toks, k + 2)));
            k += 3;
            continue;
        }
        let after_path_sep = k > 0 && matches!(toks[k - 1].1, "::" | "$");
        if t == "use" && !after_path_sep {
            let end = item_end(&toks, k);
            let mut leaves = Vec::new();
            use_tree(&toks[k + 1..end], Vec::new(), &mut leaves);
            out.extend(
                leaves
                    .into_iter()
                    .filter(|p| p.first().is_some_and(|f| local(f)))
                    .map(|p| (within.clone(), p)),
            );
            k = end;
            continue;
        }
        // `pub(in crate::x)` is a visibility, not a path to an item.
        let in_visibility =
            k >= 3 && [toks[k - 3].1, toks[k - 2].1, toks[k - 1].1] == ["pub", "(", "in"];
        if local(t)
            && !after_path_sep
            && !in_visibility
            && toks.get(k + 1).map(|t| t.1) == Some("::")
        {
            let mut path = vec![t.to_owned()];
            let mut j = k + 1;
            while toks.get(j).map(|t| t.1) == Some("::") {
                match toks.get(j + 1) {
                    Some((_, seg)) if seg.chars().all(|ch| ch.is_alphanumeric() || ch == '_') => {
                        path.push((*seg).to_owned());
                        j += 2;
                    }
                    _ => break,
                }
            }
            out.push((within, path));
            k = j;
            continue;
        }
        k += 1;
    }
    out
}

/// Expands the tokens of a `use` tree (after `use`, up to and including `;`) into full paths.
fn use_tree(toks: &[(usize, &str)], prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    let mut k = 0;
    while k < toks.len() {
        match toks[k].1 {
            "::" => k += 1,
            "{" => {
                let close = closing(toks, k);
                // Split the group at its top-level commas.
                let mut start = k + 1;
                let mut depth = 0;
                for (j, (_, t)) in toks.iter().enumerate().take(close + 1).skip(k + 1) {
                    match *t {
                        "{" => depth += 1,
                        "}" if depth > 0 => depth -= 1,
                        "," | "}" if depth == 0 => {
                            if start < j {
                                use_tree(&toks[start..j], path.clone(), out);
                            }
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            "as" | ";" | "*" | "," => break,
            seg => {
                if seg == "self" && !path.is_empty() {
                    // `a::{self, …}` names `a` itself.
                } else {
                    path.push(seg.to_owned());
                }
                k += 1;
            }
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
}

// ---- The rule on the crates ----

fn crate_dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn core_keeps_the_one_way_rule() {
    let found = violations(&crate_dir("src"));
    assert!(found.is_empty(), "core/src:\n{}", found.join("\n"));
}

#[test]
fn the_shell_keeps_the_one_way_rule() {
    let found = violations(&crate_dir("../src"));
    assert!(found.is_empty(), "src/:\n{}", found.join("\n"));
}

/// The collector too (issue #20): the storage ports are a leaf, every consumer takes its port.
#[test]
fn the_collector_keeps_the_one_way_rule() {
    let found = violations(&crate_dir("../collector/src"));
    assert!(found.is_empty(), "collector/src:\n{}", found.join("\n"));
}

/// The module map (which file imports which), for a README's architecture section:
/// `cargo test -p pixel-core --test module_graph -- --ignored --nocapture module_map`.
#[test]
#[ignore = "prints the map; nothing to check"]
fn module_map() {
    for dir in ["src", "../src"] {
        let graph = Graph::read(&crate_dir(dir));
        println!("{dir}:");
        for (from, tos) in &graph.imports {
            let tos: Vec<&str> = tos.iter().map(String::as_str).collect();
            println!("  {from} -> {}", tos.join(", "));
        }
    }
}

// ---- The checker on small trees ----

/// A throwaway source tree under the system's temporary directory, removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str, files: &[(&str, &str)]) -> Tree {
        let root = std::env::temp_dir().join(format!(
            "pixel-core-module-graph-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&root);
        for (rel, text) in files {
            let path = root.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        Tree(root)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn finds_a_cycle() {
    let t = Tree::new(
        "cycle",
        &[
            ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
            ("a.rs", "use crate::b::B;\npub struct A;\n"),
            ("b.rs", "pub struct B(crate::c::C);\n"),
            ("c.rs", "use crate::{a::A, b as _};\npub struct C;\n"),
        ],
    );
    let found = violations(&t.0);
    assert!(
        found.contains(&"a.rs -> b.rs (cycle a.rs -> b.rs -> c.rs -> a.rs)".to_owned()),
        "{found:#?}"
    );
    assert_eq!(found.len(), 4, "{found:#?}"); // a→b, b→c, c→a, c→b
}

#[test]
fn finds_an_upward_import() {
    let t = Tree::new(
        "upward",
        &[
            ("lib.rs", "pub mod tracker;\npub(crate) fn helper() {}\n"),
            (
                "tracker.rs",
                "mod dispatch;\npub use dispatch::go;\npub struct Tracker;\n",
            ),
            (
                "tracker/dispatch.rs",
                "use super::Tracker;\npub fn go(_: Tracker) { crate::helper() }\n",
            ),
        ],
    );
    let mut found = violations(&t.0);
    found.sort();
    assert_eq!(
        found,
        [
            "tracker.rs -> tracker/dispatch.rs (cycle tracker.rs -> tracker/dispatch.rs -> tracker.rs)",
            "tracker/dispatch.rs -> lib.rs (upward)",
            "tracker/dispatch.rs -> tracker.rs (cycle tracker/dispatch.rs -> tracker.rs -> tracker/dispatch.rs)",
            "tracker/dispatch.rs -> tracker.rs (upward)",
        ]
    );
}

#[test]
fn sibling_and_downward_imports_are_fine() {
    let t = Tree::new(
        "fine",
        &[
            (
                "lib.rs",
                "pub mod tracker;\nmod text;\npub use text::find;\n",
            ),
            (
                "tracker/mod.rs",
                "mod state;\nmod dispatch;\npub use state::Tracker;\n",
            ),
            ("tracker/state.rs", "pub struct Tracker;\n"),
            (
                "tracker/dispatch.rs",
                "use super::state::Tracker;\nimpl Tracker { fn f() { crate::text::find(); } }\n",
            ),
            (
                "text.rs",
                "pub fn find() {}\n#[cfg(unix)]\nmod sys {\n    use super::find;\n}\n",
            ),
        ],
    );
    assert_eq!(violations(&t.0), Vec::<String>::new());
}

#[test]
fn comments_strings_and_tests_are_not_imports() {
    let t = Tree::new(
        "exempt",
        &[
            (
                "lib.rs",
                "mod a;\n#[cfg(test)]\nmod tests;\npub(crate) const X: u8 = 1;\n",
            ),
            (
                "a.rs",
                concat!(
                    "//! Uses [`crate::X`] in a doc comment.\n",
                    "pub const S: &str = \"crate::X\";\n",
                    "pub const R: &str = r#\"super::X \"quoted\"\"#;\n",
                    "pub fn f<'a>(s: &'a str) -> char { let _ = s; '\"' }\n",
                    "/* crate::X /* nested */ crate::X */\n",
                    "#[cfg(test)]\nmod tests {\n    use super::super::X;\n    fn t() { let _ = crate::X; }\n}\n",
                ),
            ),
            ("tests.rs", "use crate::X;\n"),
        ],
    );
    assert_eq!(violations(&t.0), Vec::<String>::new());
}

#[test]
fn expands_use_trees_and_resolves_to_the_deepest_module_file() {
    let code = blank_literals(
        "use crate::{a::{self, b::C}, d as e};\nuse super::*;\n\
         fn f() { crate::x::y(); z::w(); for _ in crate::v::it() {} }\n\
         pub(in crate::q) fn g() {}",
    );
    let children = BTreeSet::from(["z".to_owned()]);
    let paths: Vec<Vec<String>> = paths_named(&code, &children)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert_eq!(
        paths,
        [
            vec!["crate", "a"],
            vec!["crate", "a", "b", "C"],
            vec!["crate", "d"],
            vec!["super"],
            vec!["crate", "x", "y"],
            vec!["z", "w"],
            vec!["crate", "v", "it"],
        ]
    );
    let t = Tree::new(
        "resolve",
        &[
            ("lib.rs", "pub mod a;\n"),
            ("a/mod.rs", "pub mod b;\n"),
            ("a/b.rs", "pub struct C;\n"),
        ],
    );
    let g = Graph::read(&t.0);
    let path = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        g.resolve(&path(&["a", "b", "C"])).as_deref(),
        Some("a/b.rs")
    );
    assert_eq!(g.resolve(&path(&["a", "D"])).as_deref(), Some("a/mod.rs"));
    assert_eq!(g.resolve(&path(&["E"])).as_deref(), Some("lib.rs"));
}
