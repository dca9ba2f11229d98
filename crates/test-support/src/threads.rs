//! This process's threads, by name: what tests of the connection threads count.

/// How many of this process's threads have a name starting with `prefix` (Linux: read from
/// `/proc/self/task`).
pub fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}
