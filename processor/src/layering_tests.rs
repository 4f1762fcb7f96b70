//! The layout's rules, checked on the sources (ARCHITECTURE.md, "The
//! processor core does no I/O"):
//!
//! - nothing outside `sink/`, `opensearch/`, `handler.rs` and `bin/`
//!   mentions the network or the async runtime, or uses the sink, the
//!   OpenSearch client or the handler;
//! - the stages (the first component of a path under `src/`: `decode/`,
//!   `line/`, `counts.rs`…) use one another (`crate::<stage>`) without a
//!   cycle. Test code (`*_tests.rs`, a trailing `#[cfg(test)] mod tests`)
//!   is left out of the graph: tests may drive a stage from above.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where the network and the async runtime are allowed.
const EDGE: [&str; 4] = ["sink", "opensearch", "handler", "bin"];

/// What a pure module must not mention. This file is the one exception: it
/// names them.
const FORBIDDEN: [&str; 9] = [
    "tokio",
    "hyper",
    "reqwest",
    "std::net",
    "async fn",
    ".await",
    "crate::sink",
    "crate::opensearch",
    "crate::handler",
];

const THIS_FILE: &str = "layering_tests.rs";

/// Every `.rs` file under `src/`, relative to it, in name order.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let relative = path.strip_prefix(root).expect("under src/").to_path_buf();
                out.push((relative, text));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    assert!(
        out.len() > 10,
        "found only {} files under {}",
        out.len(),
        root.display()
    );
    out
}

/// The stage of a file: the first component of its path under `src/`,
/// without `.rs` (`decode/fastbatch.rs` → `decode`, `counts.rs` → `counts`).
fn stage(relative: &Path) -> String {
    let first = relative
        .components()
        .next()
        .expect("a path under src/")
        .as_os_str()
        .to_string_lossy();
    first.strip_suffix(".rs").unwrap_or(&first).to_string()
}

/// The lines of a file that are not test code, numbered from 1: none for a
/// `*_tests.rs` file; otherwise those before a `#[cfg(test)]` that opens
/// `mod tests`.
fn non_test_lines<'t>(relative: &Path, text: &'t str) -> Vec<(usize, &'t str)> {
    if relative.to_string_lossy().ends_with("_tests.rs") {
        return Vec::new();
    }
    let lines: Vec<&str> = text.lines().collect();
    let end = (0..lines.len())
        .find(|&i| {
            lines[i].trim() == "#[cfg(test)]"
                && lines[i + 1..]
                    .iter()
                    .map(|next| next.trim_start())
                    .find(|next| !next.starts_with("#["))
                    .is_some_and(|next| next.starts_with("mod tests"))
        })
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .enumerate()
        .map(|(i, line)| (i + 1, *line))
        .collect()
}

/// The stages a line's code (not its comment) names as `crate::<stage>`.
fn used_stages(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("crate::")
        .filter(|(at, _)| {
            // Not the tail of another path (`mycrate::`, `$crate::`).
            !code[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
        })
        .map(|(at, found)| {
            code[at + found.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// A cycle of the graph, as its stages in order with the first repeated at
/// the end, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

#[test]
fn nothing_below_the_sink_touches_the_network() {
    let mut found = Vec::new();
    for (relative, text) in sources() {
        if EDGE.contains(&stage(&relative).as_str()) || relative == Path::new(THIS_FILE) {
            continue;
        }
        for (number, line) in text.lines().enumerate() {
            for word in FORBIDDEN.iter().filter(|w| line.contains(*w)) {
                found.push(format!(
                    "src/{}:{}: `{word}`: {}",
                    relative.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "only sink/, opensearch/ and handler.rs may touch the network or the async runtime, or use them:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_stages_form_no_cycle() {
    // Each edge with the first place that makes it, to name in a failure.
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut first_use: BTreeMap<(String, String), String> = BTreeMap::new();
    for (relative, text) in sources() {
        let from = stage(&relative);
        graph.entry(from.clone()).or_default();
        for (number, line) in non_test_lines(&relative, &text) {
            for to in used_stages(line) {
                if to != from {
                    first_use
                        .entry((from.clone(), to.clone()))
                        .or_insert_with(|| format!("src/{}:{number}", relative.display()));
                    graph.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    if let Some(cycle) = find_cycle(&graph) {
        let edges: Vec<String> = cycle
            .windows(2)
            .map(|pair| {
                let key = (pair[0].clone(), pair[1].clone());
                format!("{} -> {} ({})", pair[0], pair[1], first_use[&key])
            })
            .collect();
        panic!(
            "the stages use one another in a cycle: {}\n{}",
            cycle.join(" -> "),
            edges.join("\n")
        );
    }
}

#[test]
fn the_checks_see_uses_and_cycles() {
    assert_eq!(
        used_stages("use crate::line::{self, RawRecord}; // crate::sink"),
        ["line"]
    );
    assert_eq!(
        used_stages("    let x = crate::decode::fastbatch::parse(crate::jsonstr::X);"),
        ["decode", "jsonstr"]
    );
    assert!(used_stages("$crate::x; mycrate::y").is_empty());
    assert_eq!(stage(Path::new("decode/fastbatch.rs")), "decode");
    assert_eq!(stage(Path::new("counts.rs")), "counts");
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])),
        None
    );
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "b")])),
        Some(vec!["b".to_string(), "c".to_string(), "b".to_string()])
    );
    let text =
        "use crate::a;\n#[cfg(test)]\n#[path = \"t.rs\"]\nmod tests {\n    use crate::b;\n}\n";
    assert_eq!(
        non_test_lines(Path::new("x.rs"), text),
        [(1, "use crate::a;")]
    );
    assert!(non_test_lines(Path::new("x_tests.rs"), text).is_empty());
}
