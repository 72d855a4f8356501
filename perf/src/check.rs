//! `check`: the Linux settings that move a broker's tail latency, each with the current value,
//! the recommended one and why. It only reads; it changes nothing.

use std::path::Path;

/// One finding.
pub struct Finding {
    setting: String,
    current: String,
    recommended: &'static str,
    why: &'static str,
    ok: bool,
}

fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The selected value of a sysfs list such as `always [madvise] never`.
fn selected(list: &str) -> String {
    list.split_whitespace()
        .find(|w| w.starts_with('['))
        .map_or(list.to_string(), |w| {
            w.trim_matches(|c| c == '[' || c == ']').to_string()
        })
}

/// The block device (e.g. `nvme0n1`, `vda`) holding `dir`, through sysfs.
fn block_device(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(dir).ok()?.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let link = std::fs::read_link(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    let name = link.file_name()?.to_string_lossy().to_string();
    // A partition's queue settings live on its parent disk.
    if Path::new(&format!("/sys/block/{name}")).exists() {
        return Some(name);
    }
    link.parent()?
        .file_name()
        .map(|p| p.to_string_lossy().to_string())
}

/// Reads every setting this module knows about; the disk checks look at the disk of `data_dir`.
pub fn check(data_dir: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct we pass.
    unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let want = cores * (10 << 20) + (4 << 20);
    out.push(Finding {
        setting: "locked memory (ulimit -l)".into(),
        current: if lim.rlim_cur == libc::RLIM_INFINITY {
            "unlimited".into()
        } else {
            format!("{} KiB", lim.rlim_cur / 1024)
        },
        recommended: "unlimited, or at least 10 MiB per shard",
        why: "each shard registers 10 MiB of I/O buffers with io_uring; \
              below that it runs with fewer registered buffers",
        ok: lim.rlim_cur >= want,
    });
    if let Some(thp) = read("/sys/kernel/mm/transparent_hugepage/enabled") {
        let v = selected(&thp);
        out.push(Finding {
            setting: "transparent huge pages".into(),
            ok: v != "always",
            current: v,
            recommended: "madvise or never",
            why: "khugepaged compaction stalls show up as multi-millisecond latency outliers",
        });
    }
    if let Some(swappiness) = read("/proc/sys/vm/swappiness") {
        out.push(Finding {
            setting: "vm.swappiness".into(),
            ok: swappiness.parse::<u32>().is_ok_and(|v| v <= 1),
            current: swappiness,
            recommended: "0 or 1",
            why: "a swapped-out page on the hot path costs a disk read",
        });
    }
    let governors: Vec<String> = (0..cores)
        .filter_map(|c| {
            read(format!(
                "/sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor"
            ))
        })
        .collect();
    out.push(Finding {
        setting: "CPU frequency governor".into(),
        ok: governors.is_empty() || governors.iter().all(|g| g == "performance"),
        current: if governors.is_empty() {
            "not exposed (virtual machine?)".into()
        } else {
            governors.join(",")
        },
        recommended: "performance",
        why: "frequency ramp-up after idle adds latency to the first requests of a burst",
    });
    if let Some(smt) = read("/sys/devices/system/cpu/smt/active") {
        out.push(Finding {
            setting: "SMT (hyper-threading)".into(),
            ok: smt == "0",
            current: if smt == "1" {
                "on".into()
            } else {
                "off".into()
            },
            recommended:
                "off for dedicated broker cores, or shards on one thread per physical core",
            why: "two shards on sibling threads share one core's execution units and caches",
        });
    }
    match block_device(data_dir) {
        Some(dev) => {
            if let Some(s) = read(format!("/sys/block/{dev}/queue/scheduler")) {
                let v = selected(&s);
                out.push(Finding {
                    setting: format!("I/O scheduler of {dev}"),
                    ok: v == "none",
                    current: v,
                    recommended: "none",
                    why: "NVMe has its own queues; \
                          a software scheduler only adds latency to O_DIRECT writes",
                });
            }
            if let Some(rot) = read(format!("/sys/block/{dev}/queue/rotational")) {
                out.push(Finding {
                    setting: format!("{dev} is an SSD"),
                    ok: rot == "0",
                    current: if rot == "0" {
                        "yes".into()
                    } else {
                        "no (rotational)".into()
                    },
                    recommended: "yes",
                    why: "fsync-before-ack latency is bounded by the device's flush latency",
                });
            }
        }
        None => out.push(Finding {
            setting: "data disk".into(),
            current: format!("{} not found", data_dir.display()),
            recommended: "an existing data directory",
            why: "the disk checks need it",
            ok: false,
        }),
    }
    out
}

/// Prints the findings as a table, with the reason under every setting that should change.
pub fn print(findings: &[Finding]) {
    for f in findings {
        let mark = if f.ok { "ok  " } else { "TUNE" };
        println!(
            "{mark} {:<32} now: {:<28} want: {}",
            f.setting, f.current, f.recommended
        );
        if !f.ok {
            println!("     why: {}", f.why);
        }
    }
}
