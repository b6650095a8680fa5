//! Dependency layers: the order packages are released in. Layer 0 depends
//! on no package of the release, layer 1 only on layer 0, and so on; a
//! cycle is an error naming it.

use std::collections::{BTreeMap, BTreeSet};

/// `packages` (each with the packages of the release it depends on) in
/// layers, each layer sorted by name; `Err` holds a cycle, its first
/// package repeated at the end.
pub fn layers(
    packages: &BTreeMap<String, BTreeSet<String>>,
) -> Result<Vec<Vec<String>>, Vec<String>> {
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    while placed.len() < packages.len() {
        let layer: Vec<String> = packages
            .iter()
            .filter(|(name, _)| !placed.contains(name.as_str()))
            .filter(|(_, deps)| {
                deps.iter()
                    .all(|d| placed.contains(d.as_str()) || !packages.contains_key(d))
            })
            .map(|(name, _)| name.clone())
            .collect();
        if layer.is_empty() {
            return Err(cycle(packages, &placed));
        }
        for name in &layer {
            if let Some((key, _)) = packages.get_key_value(name) {
                placed.insert(key);
            }
        }
        out.push(layer);
    }
    Ok(out)
}

/// A cycle among the packages not placed: walk dependencies until a
/// package repeats.
fn cycle(packages: &BTreeMap<String, BTreeSet<String>>, placed: &BTreeSet<&str>) -> Vec<String> {
    let Some(start) = packages.keys().find(|k| !placed.contains(k.as_str())) else {
        return Vec::new();
    };
    let mut path: Vec<String> = vec![start.clone()];
    loop {
        let Some(current) = path.last() else {
            return path;
        };
        let next = packages.get(current).and_then(|deps| {
            deps.iter()
                .find(|d| packages.contains_key(*d) && !placed.contains(d.as_str()))
        });
        let Some(next) = next else {
            return path;
        };
        if let Some(at) = path.iter().position(|p| p == next) {
            let mut cycle = path.split_off(at);
            cycle.push(next.clone());
            return cycle;
        }
        path.push(next.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        edges
            .iter()
            .map(|(name, deps)| {
                (
                    name.to_string(),
                    deps.iter().map(|d| d.to_string()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn packages_come_after_what_they_depend_on() {
        let g = graph(&[
            ("app-b", &["lib-a", "requests"]),
            ("lib-a", &[]),
            ("c", &["app-b"]),
            ("d", &[]),
        ]);
        assert_eq!(
            layers(&g).unwrap(),
            vec![
                vec!["d".to_string(), "lib-a".to_string()],
                vec!["app-b".to_string()],
                vec!["c".to_string()]
            ]
        );
    }

    #[test]
    fn a_cycle_is_named() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("z", &[])]);
        assert_eq!(layers(&g).unwrap_err(), ["a", "b", "c", "a"]);
    }
}
