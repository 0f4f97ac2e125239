//! The module structure of the crates whose layering matters, read from their sources: the
//! executor's owners and the runtime's modules import each other in one direction only (no
//! circle), and the executor's owners never import one another (only the workers and the host
//! compose them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules of the crate at `src` and, for each, the other top-level modules its
/// files name as `crate::<module>`.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("read the crate's sources") {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if name == "lib" || name == "main" {
            continue;
        }
        let files = if path.is_dir() { rust_files(&path) } else { vec![path.clone()] };
        modules.entry(name).or_default().extend(files);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .into_iter()
        .map(|(module, files)| {
            let mut uses = BTreeSet::new();
            for file in files {
                let text = std::fs::read_to_string(&file).unwrap();
                let code: String =
                    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
                for (index, _) in code.match_indices("crate::") {
                    let rest = &code[index + "crate::".len()..];
                    let used: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if used != module && names.contains(&used) {
                        uses.insert(used);
                    }
                }
                // `use crate::{a, b::c}`
                for (index, _) in code.match_indices("crate::{") {
                    let rest = &code[index + "crate::{".len()..];
                    let list = &rest[..rest.find('}').unwrap_or(rest.len())];
                    for item in list.split(',') {
                        let used: String =
                            item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                        if used != module && names.contains(&used) {
                            uses.insert(used);
                        }
                    }
                }
            }
            (module, uses)
        })
        .collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// A circle of imports, if the graph has one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut found = path[start..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn crate_src(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

#[test]
fn the_executor_and_the_runtime_have_no_circle_of_imports() {
    for krate in ["host/executor/src", "host/runtime/src"] {
        let graph = module_graph(&crate_src(krate));
        assert!(graph.len() > 5, "{krate}: the graph was read: {graph:?}");
        if let Some(found) = circle(&graph) {
            panic!("{krate}: modules import each other in a circle: {}", found.join(" -> "));
        }
    }
}

#[test]
fn the_executor_owners_never_import_one_another() {
    let graph = module_graph(&crate_src("host/executor/src"));
    let owners = ["scheduler", "episodes", "activities", "registry", "watchers", "replay_check", "schedules"];
    for owner in owners {
        let known: Vec<&String> = graph[owner].iter().filter(|used| owners.contains(&used.as_str())).collect();
        // Every owner looks components up: the registry is shared, not composed. The episode
        // runner replays a history on a newer component before an upgrade its policy asks for:
        // the replay checker is shared the same way (it knows no owner but the registry's types).
        let allowed = ["registry", "replay_check"];
        let wrong: Vec<&&String> = known.iter().filter(|used| !allowed.contains(&used.as_str())).collect();
        assert!(wrong.is_empty(), "{owner} imports the owners {wrong:?}: only the workers and the host compose them");
    }
}

#[test]
fn a_circle_is_found_and_named() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(circle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    let line: BTreeMap<String, BTreeSet<String>> =
        [("a".to_string(), BTreeSet::from(["b".to_string()])), ("b".to_string(), BTreeSet::new())].into();
    assert_eq!(circle(&line), None);
}
