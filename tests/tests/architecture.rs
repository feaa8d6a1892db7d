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
