//! The layout the architecture promises: the four services are peers over `crates/`. A service
//! that imports another would drag its internals (and its dependencies) into every binary built
//! on it, which is how the command-center once came to build the analyzer's SMS providers.

use std::path::Path;

const SERVICES: [(&str, &str); 4] = [
    ("collector", "geohazard-collector"),
    ("analyzer", "geohazard-analyzer"),
    ("command-center", "geohazard-command-center"),
    ("firmware-bridge", "geohazard-firmware-bridge"),
];

#[test]
fn no_service_depends_on_another_service_not_even_for_its_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for (dir, own) in SERVICES {
        let manifest = std::fs::read_to_string(root.join(dir).join("Cargo.toml")).unwrap();
        for (_, other) in SERVICES.iter().filter(|(_, name)| *name != own) {
            let declared = manifest.lines().any(|line| {
                let key = line.split(['=', '.']).next().unwrap_or("").trim();
                key == *other
            });
            if declared {
                found.push(format!("{own} depends on {other}"));
            }
        }
    }
    assert!(found.is_empty(), "{found:?}");
}

/// Every crate of the workspace whose modules must not import each other in a circle.
const CRATES: [&str; 19] = [
    "crates/protocol",
    "crates/domain",
    "crates/audit",
    "crates/register",
    "crates/api",
    "crates/bus",
    "crates/runtime",
    "crates/field-sim",
    "crates/store",
    "crates/testkit",
    "crates/warnings",
    "crates/universal",
    "collector",
    "analyzer",
    "command-center",
    "firmware-bridge",
    "geohazard",
    "tests",
    "benches",
];

/// The crate's top-level modules (a file or folder under `src/`, binaries and the crate root
/// left out), each with the `.rs` files it is made of.
fn modules(src: &Path) -> std::collections::BTreeMap<String, Vec<std::path::PathBuf>> {
    let mut found: std::collections::BTreeMap<String, Vec<_>> = Default::default();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path != src.join("bin") {
                    stack.push(path);
                }
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            if path.extension().is_none_or(|e| e != "rs")
                || rel == Path::new("lib.rs")
                || rel == Path::new("main.rs")
            {
                continue;
            }
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let top = top.trim_end_matches(".rs").to_owned();
            found.entry(top).or_default().push(path);
        }
    }
    found
}

/// The sibling modules a file names as `crate::name`, its unit tests left out.
fn imports(path: &Path, siblings: &[&str]) -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut named = std::collections::BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if siblings.contains(&name.as_str()) {
            named.insert(name);
        }
        // `use crate::{a::X, b}`: every name the braces open with.
        if rest.starts_with('{') {
            let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
            for item in group.split(',') {
                let name = item.trim().split("::").next().unwrap_or("").trim();
                if siblings.contains(&name) {
                    named.insert(name.to_owned());
                }
            }
        }
    }
    named
}

#[test]
fn no_two_modules_of_a_crate_import_each_other_even_through_others() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut loops = Vec::new();
    for krate in CRATES {
        let modules = modules(&root.join(krate).join("src"));
        let names: Vec<&str> = modules.keys().map(String::as_str).collect();
        let graph: std::collections::BTreeMap<&str, std::collections::BTreeSet<String>> = modules
            .iter()
            .map(|(name, files)| {
                let mut deps: std::collections::BTreeSet<String> =
                    files.iter().flat_map(|f| imports(f, &names)).collect();
                deps.remove(name);
                (name.as_str(), deps)
            })
            .collect();
        for (from, deps) in &graph {
            // Does anything `from` imports lead back to it?
            let mut seen = std::collections::BTreeSet::new();
            let mut stack: Vec<&str> = deps.iter().map(String::as_str).collect();
            while let Some(at) = stack.pop() {
                if at == *from {
                    loops.push(format!("{krate}: {from} imports itself through {deps:?}"));
                    break;
                }
                if seen.insert(at) {
                    stack.extend(graph[at].iter().map(String::as_str));
                }
            }
        }
    }
    assert!(loops.is_empty(), "import loops: {loops:#?}");
}
