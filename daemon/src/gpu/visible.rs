//! CUDA_VISIBLE_DEVICES as CUDA reads it: a comma-separated list of indices
//! or UUIDs (a unique prefix is enough), in the order given; the list ends at
//! the first entry that names no device; an empty value hides every GPU.
//! MIG instances (`MIG-...`) are not placed on: they end the list.

use super::Gpu;

/// The GPUs `visible` leaves, in its order; all of them when it is unset.
pub fn filter(gpus: Vec<Gpu>, visible: Option<&str>) -> Vec<Gpu> {
    let Some(visible) = visible else {
        return gpus;
    };
    let mut kept: Vec<Gpu> = Vec::new();
    for entry in visible.split(',').map(str::trim) {
        let found = if let Ok(index) = entry.parse::<u32>() {
            gpus.iter().find(|g| g.index == index)
        } else if entry.starts_with("GPU-") {
            let mut matches = gpus.iter().filter(|g| g.uuid.starts_with(entry));
            match (matches.next(), matches.next()) {
                (Some(g), None) => Some(g),
                _ => None, // none, or an ambiguous prefix
            }
        } else {
            None
        };
        match found {
            Some(g) if !kept.iter().any(|k| k.uuid == g.uuid) => kept.push(g.clone()),
            _ => break,
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpus() -> Vec<Gpu> {
        (0..4)
            .map(|i| Gpu {
                index: i,
                uuid: format!("GPU-{i}aaa-{i}"),
                name: "T4".into(),
                memory_total_mib: Some(15360),
                memory_used_mib: Some(0),
                utilization_pct: Some(0),
            })
            .collect()
    }

    fn indices(visible: Option<&str>) -> Vec<u32> {
        filter(gpus(), visible).iter().map(|g| g.index).collect()
    }

    #[test]
    fn cuda_visible_devices_is_read_as_cuda_reads_it() {
        assert_eq!(indices(None), [0, 1, 2, 3]);
        assert_eq!(indices(Some("")), [] as [u32; 0], "empty hides all");
        assert_eq!(indices(Some("2,0")), [2, 0], "its order");
        assert_eq!(indices(Some("GPU-3aaa-3, 1")), [3, 1], "uuids and spaces");
        assert_eq!(indices(Some("GPU-1")), [1], "a unique prefix");
        assert_eq!(indices(Some("1,7,2")), [1], "ends at the first unknown");
        assert_eq!(indices(Some("-1")), [] as [u32; 0]);
        assert_eq!(indices(Some("0,0")), [0], "a repeat ends it");
        assert_eq!(indices(Some("MIG-GPU-1aaa-1/1/0")), [] as [u32; 0]);
    }
}
