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

/// The layer map (ARCHITECTURE.md): a library crate may use only the library crates of lower
/// layers. Bottom to top: the vocabulary (`domain`; `runtime` and `field-sim`, which know no
/// domain), the wire (`protocol`), the connections (`bus`, `store`), then `audit` → `notify` →
/// `warnings` → the feature crates → `consult` (over incidents) → `api`; `testkit` stands over
/// them all (for tests). A crate not in the map fails the test until its layer is declared
/// here.
const LAYERS: &[&[&str]] = &[
    &[
        "geohazard-domain",
        "geohazard-runtime",
        "geohazard-field-sim",
        "geohazard-secrets",
    ],
    &["geohazard-protocol"],
    &["geohazard-bus", "geohazard-store"],
    &["geohazard-audit"],
    &["geohazard-notify"],
    &["geohazard-warnings"],
    &[
        "geohazard-universal",
        "geohazard-register",
        "geohazard-incidents",
        "geohazard-approvals",
        "geohazard-reports",
        "geohazard-forecast",
        "geohazard-rules",
    ],
    // Consultation is held over incidents: its decisions enter an incident's timeline.
    &["geohazard-consult"],
    &["geohazard-api"],
    &["geohazard-testkit"],
];

/// The services: peers over the libraries, none depending on another.
const SERVICE_CRATES: [&str; 4] = [
    "geohazard-collector",
    "geohazard-analyzer",
    "geohazard-command-center",
    "geohazard-firmware-bridge",
];

/// Built on everything: the all-in-one binary, the end-to-end tests, the benchmarks.
const TOP: [&str; 3] = ["geohazard", "geohazard-e2e", "geohazard-benches"];

fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&name))
}

/// Every workspace member: (folder, package name, normal dependencies, dev-dependencies), the
/// geohazard crates among them only.
#[allow(clippy::type_complexity)]
fn workspace() -> Vec<(String, String, Vec<String>, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|m| m.split(']').next())
        .unwrap();
    let mut out = Vec::new();
    for member in members.split(',').map(|m| m.trim().trim_matches('"')) {
        if member.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(root.join(member).join("Cargo.toml")).unwrap();
        let (mut name, mut deps, mut dev) = (String::new(), Vec::new(), Vec::new());
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.trim_matches(['[', ']']).to_owned();
                continue;
            }
            let key = line
                .split(['=', '.'])
                .next()
                .unwrap_or("")
                .trim()
                .to_owned();
            if section == "package" && key == "name" {
                name = line.split('"').nth(1).unwrap().to_owned();
            } else if key.starts_with("geohazard") {
                if section.ends_with("dev-dependencies") {
                    dev.push(key);
                } else if section.ends_with("dependencies") {
                    deps.push(key);
                }
            }
        }
        out.push((member.to_owned(), name, deps, dev));
    }
    out
}

#[test]
fn every_crate_depends_only_on_what_the_layer_map_allows() {
    let mut wrong = Vec::new();
    for (folder, name, deps, dev) in workspace() {
        if TOP.contains(&name.as_str()) {
            continue;
        }
        let is_service = SERVICE_CRATES.contains(&name.as_str());
        let Some(own) = layer_of(&name).or(is_service.then_some(LAYERS.len())) else {
            wrong.push(format!(
                "{folder} ({name}) has no layer: declare it in LAYERS"
            ));
            continue;
        };
        for dep in deps.iter().chain(&dev) {
            let is_dev = dev.contains(dep);
            if SERVICE_CRATES.contains(&dep.as_str()) || TOP.contains(&dep.as_str()) {
                wrong.push(format!("{name} depends on the service {dep}"));
                continue;
            }
            let Some(theirs) = layer_of(dep) else {
                wrong.push(format!("{name} depends on {dep}, which has no layer"));
                continue;
            };
            // The test kit serves every crate's own tests.
            let allowed = theirs < own || (is_dev && dep == "geohazard-testkit");
            if !allowed {
                wrong.push(format!(
                    "{name} (layer {own}) depends on {dep} (layer {theirs}){}",
                    if is_dev { " for its tests" } else { "" }
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Every crate of the workspace whose modules (its root `lib.rs` among them) must not import
/// each other in a circle.
const CRATES: [&str; 20] = [
    "crates/protocol",
    "crates/domain",
    "crates/audit",
    "crates/register",
    "crates/api",
    "crates/notify",
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

/// The crate's top-level modules (a file or folder under `src/`, binaries left out), each with
/// the `.rs` files it is made of; the crate root `lib.rs` is the module `lib`.
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
            if path.extension().is_none_or(|e| e != "rs") || rel == Path::new("main.rs") {
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

/// The items `lib.rs` defines itself (a module naming `crate::Item` depends on the root).
fn root_items(lib: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(lib) else {
        return vec![];
    };
    let mut items = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            if ["fn", "struct", "enum", "trait", "type", "const", "static"].contains(&pair[0]) {
                let name: String = pair[1]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    items.push(name);
                }
            }
        }
    }
    items
}

/// What the crate root's own code uses: the modules it names as `name::`, declarations (`mod`)
/// and re-exports (`pub use`) left out.
fn root_imports(lib: &Path, siblings: &[&str]) -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string(lib).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut named = std::collections::BTreeSet::new();
    for line in code.lines().map(str::trim) {
        if line.starts_with("//")
            || line.starts_with("mod ")
            || line.starts_with("pub mod ")
            || line.starts_with("pub use ")
            || line.starts_with("pub(crate) mod ")
        {
            continue;
        }
        for sibling in siblings.iter().filter(|s| **s != "lib") {
            let path = format!("{sibling}::");
            let used = line.match_indices(&path).any(|(at, _)| {
                // `writer::write`, `crate::writer::...`, `{writer::...`, not `my_writer::`.
                line[..at]
                    .chars()
                    .last()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            });
            if used {
                named.insert((*sibling).to_owned());
            }
        }
    }
    named
}

/// The sibling modules a file names as `crate::name` (and `lib` for an item the crate root
/// defines), its unit tests left out.
fn imports(path: &Path, siblings: &[&str], root: &[String]) -> std::collections::BTreeSet<String> {
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
        } else if root.contains(&name) {
            named.insert("lib".to_owned());
        }
        // `use crate::{a::X, b}`: every name the braces open with.
        if rest.starts_with('{') {
            let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
            for item in group.split(',') {
                let name = item.trim().split("::").next().unwrap_or("").trim();
                if siblings.contains(&name) {
                    named.insert(name.to_owned());
                } else if root.iter().any(|r| r == name) {
                    named.insert("lib".to_owned());
                }
            }
        }
    }
    named
}

type Graph<'a> = std::collections::BTreeMap<&'a str, std::collections::BTreeSet<String>>;

/// Every module that imports itself through others, with what it imports.
fn loops_in(graph: &Graph) -> Vec<String> {
    let mut loops = Vec::new();
    for (from, deps) in graph {
        // Does anything `from` imports lead back to it?
        let mut seen = std::collections::BTreeSet::new();
        let mut stack: Vec<&str> = deps.iter().map(String::as_str).collect();
        while let Some(at) = stack.pop() {
            if at == *from {
                loops.push(format!("{from} imports itself through {deps:?}"));
                break;
            }
            if seen.insert(at) {
                stack.extend(graph[at].iter().map(String::as_str));
            }
        }
    }
    loops
}

#[test]
fn no_two_modules_of_a_crate_import_each_other_even_through_others() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut loops = Vec::new();
    for krate in CRATES {
        let src = root.join(krate).join("src");
        let modules = modules(&src);
        let names: Vec<&str> = modules.keys().map(String::as_str).collect();
        let root_items = root_items(&src.join("lib.rs"));
        let graph: Graph = modules
            .iter()
            .map(|(name, files)| {
                let mut deps: std::collections::BTreeSet<String> = if name == "lib" {
                    root_imports(&files[0], &names)
                } else {
                    files
                        .iter()
                        .flat_map(|f| imports(f, &names, &root_items))
                        .collect()
                };
                deps.remove(name);
                (name.as_str(), deps)
            })
            .collect();
        let found = loops_in(&graph);
        loops.extend(found.into_iter().map(|l| format!("{krate}: {l}")));
    }
    assert!(loops.is_empty(), "import loops: {loops:#?}");
}
