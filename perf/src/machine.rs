//! A description of the machine a measurement ran on: kernel, CPU, cores, and the file system
//! holding the data directory. The parsers take file contents and never do I/O.

use std::path::Path;

/// One line of `/proc/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The mounted device, e.g. `/dev/nvme0n1p2`.
    pub device: String,
    /// Where it is mounted.
    pub mount_point: String,
    /// File-system type, e.g. `ext4`, `xfs`.
    pub fs_type: String,
    /// Mount options, comma-separated as the kernel prints them.
    pub options: String,
}

/// Undoes the octal escapes `/proc/mounts` uses for space, tab, newline and backslash.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The mount holding `path` (which should be canonical): the entry with the longest mount
/// point that is an ancestor of it. Later entries win ties, as later mounts shadow earlier ones.
pub fn mount_of(mounts: &str, path: &Path) -> Option<Mount> {
    let mut best: Option<Mount> = None;
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [device, mount_point, fs_type, options, ..] = fields.as_slice() else {
            continue;
        };
        let mount_point = unescape(mount_point);
        if !path.starts_with(&mount_point) {
            continue;
        }
        let longer = best
            .as_ref()
            .is_none_or(|b| mount_point.len() >= b.mount_point.len());
        if longer {
            best = Some(Mount {
                device: unescape(device),
                mount_point,
                fs_type: (*fs_type).to_string(),
                options: (*options).to_string(),
            });
        }
    }
    best
}

/// The CPU model from `/proc/cpuinfo` (`model name` on x86, `Model`/`CPU part` elsewhere).
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "cpu model", "CPU part"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_string())
            })
        })
}

/// The running kernel's release, e.g. `6.1.0-18-amd64`.
pub fn kernel() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Seconds since the Unix epoch, now.
pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
/dev/vda / ext4 rw,relatime,discard 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
/dev/nvme0n1 /var/lib xfs rw,noatime 0 0
/dev/nvme1n1 /var/lib/my\\040data xfs rw,noatime,nodiscard 0 0
tmpfs /var/lib/myelin-tmp tmpfs rw 0 0
";

    #[test]
    fn the_longest_enclosing_mount_wins() {
        let m = mount_of(MOUNTS, Path::new("/var/lib/myelin")).unwrap();
        assert_eq!(m.device, "/dev/nvme0n1");
        assert_eq!(m.fs_type, "xfs");
        assert_eq!(
            mount_of(MOUNTS, Path::new("/work/x")).unwrap().fs_type,
            "ext4"
        );
    }

    #[test]
    fn mount_points_match_whole_components() {
        // `/var/lib/myelin-tmp` must not be taken for a mount of `/var/lib/myelin`'s parent.
        let m = mount_of(MOUNTS, Path::new("/var/lib/myelin-tmpdir")).unwrap();
        assert_eq!(m.mount_point, "/var/lib");
        let t = mount_of(MOUNTS, Path::new("/var/lib/myelin-tmp/d")).unwrap();
        assert_eq!(t.fs_type, "tmpfs");
    }

    #[test]
    fn escaped_spaces_are_unescaped() {
        let m = mount_of(MOUNTS, Path::new("/var/lib/my data/topic-0")).unwrap();
        assert_eq!(m.mount_point, "/var/lib/my data");
        assert_eq!(m.options, "rw,noatime,nodiscard");
    }

    #[test]
    fn cpu_model_is_read_from_cpuinfo() {
        let x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\n\
                   model name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\n";
        assert_eq!(
            cpu_model(x86).as_deref(),
            Some("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz")
        );
        let arm = "processor\t: 0\nCPU part\t: 0xd0c\n";
        assert_eq!(cpu_model(arm).as_deref(), Some("0xd0c"));
        assert_eq!(cpu_model(""), None);
    }
}
