//! The file system under the log, as a trait, so the same log code runs on O_DIRECT files
//! through io_uring ([`DmaFs`]) and on a seeded, fault-injecting simulated disk
//! ([`crate::sim::SimFs`]) in tests.
//!
//! The trait says exactly what the log needs and no more: aligned block writes into segment
//! files, reads, `fdatasync`, truncation and preallocation, and a few whole-file operations
//! for index and marker files. Every path operation that changes a directory (create,
//! rename, remove) is durable when it returns.

use crate::limits::DMA_ALIGNMENT;
use glommio::io::{DmaFile, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Files and directories as the log uses them. All methods run on the shard's executor.
#[allow(async_fn_in_trait)] // Shard-local: futures never cross threads, so no Send bound.
pub trait FileSystem: Clone + 'static {
    /// An open segment file.
    type File: SegmentIo;

    /// Creates `dir` if needed and lists the names of the files in it.
    async fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates a segment file holding one zeroed block (see [`DmaFs`] for why), or opens it
    /// when it exists; the new name is durable on return.
    async fn create(&self, path: &Path) -> io::Result<Self::File>;
    /// Opens an existing segment file for reads and writes.
    async fn open(&self, path: &Path) -> io::Result<Self::File>;
    /// Reads a whole small file (an index or a marker).
    async fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Writes a small file durably under `name` in `dir`: a temporary file, sync, rename,
    /// directory sync.
    async fn write_atomic(&self, dir: &Path, name: &str, bytes: Vec<u8>) -> io::Result<()>;
    /// Removes a file; a missing file is not an error. Durable on return.
    async fn remove(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` to `to`, replacing `to`. Durable on return.
    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a segment file, durably as far as its name goes; the space may be given back
    /// later, in steps, so that freeing a large file does not stall other writes.
    async fn retire(&self, path: &Path) -> io::Result<()> {
        self.remove(path).await
    }
    /// Renames `from` over `to` like [`FileSystem::rename`]; the file that was `to` is
    /// given back like [`FileSystem::retire`] does.
    async fn replace(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.rename(from, to).await
    }
    /// Removes a directory and everything in it.
    async fn remove_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// True when every completed segment write is already durable (O_DSYNC), so the log
    /// need not `fdatasync` before acknowledging.
    fn durable_writes(&self) -> bool {
        false
    }
}

/// One open segment file. Writes start on an aligned position and are padded with zeroes to
/// the alignment.
#[allow(async_fn_in_trait)]
pub trait SegmentIo: 'static {
    /// Writes `pieces`, concatenated and zero-padded to [`DMA_ALIGNMENT`], at `position`
    /// (aligned).
    async fn write_blocks(&self, position: u64, pieces: &[&[u8]]) -> io::Result<()>;
    /// Reads up to `len` bytes at `position`; fewer at the end of the file.
    async fn read_at(&self, position: u64, len: usize) -> io::Result<Vec<u8>>;
    /// Makes every completed write durable (`fdatasync`).
    async fn sync(&self) -> io::Result<()>;
    /// Sets the file's size.
    async fn truncate(&self, len: u64) -> io::Result<()>;
    /// Reserves space up to `len` bytes without changing what reads return.
    async fn allocate(&self, len: u64) -> io::Result<()>;
    /// The file's size in bytes.
    async fn size(&self) -> io::Result<u64>;
    /// Closes the file.
    async fn close(self) -> io::Result<()>;
}

/// The real file system: segment files opened with O_DIRECT and driven through glommio's
/// io_uring rings; directory work on glommio's blocking-thread pool.
///
/// With `dsync`, segment files are also opened O_DSYNC: a write completes once it is
/// durable, one device round trip (a FUA write where the disk has it) instead of a write
/// and then an `fdatasync`. Logs that sync before every acknowledgement use it.
#[derive(Clone, Copy, Debug, Default)]
pub struct DmaFs {
    /// Open segment files with O_DSYNC.
    pub dsync: bool,
}

/// Runs blocking file-system work off the shard's thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    glommio::executor().spawn_blocking(f).await
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

impl FileSystem for DmaFs {
    type File = DmaFile;

    async fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let dir = dir.to_path_buf();
        blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let mut names = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                names.push(entry?.file_name().to_string_lossy().into_owned());
            }
            Ok(names)
        })
        .await
    }

    /// glommio decides once per device whether the polled io_uring ring works by reading the
    /// first block of the first file it opens there; on an empty file that read succeeds
    /// without reaching the device and every later read fails with EOPNOTSUPP. A file with a
    /// real block makes the probe honest. Zeroes read as "end of log" to the recovery scan.
    async fn create(&self, path: &Path) -> io::Result<DmaFile> {
        let p = path.to_path_buf();
        blocking(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&p)?;
            if f.metadata()?.len() == 0 {
                f.write_all(&[0u8; DMA_ALIGNMENT as usize])?;
                f.sync_all()?;
                sync_dir(&p)?;
            }
            Ok(())
        })
        .await?;
        self.open(path).await
    }

    async fn open(&self, path: &Path) -> io::Result<DmaFile> {
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        if self.dsync {
            options.custom_flags(libc::O_DSYNC);
        }
        let _in_flight = myelin_metrics::IoInFlight::start();
        Ok(options.dma_open(path).await?)
    }

    async fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let p = path.to_path_buf();
        blocking(move || std::fs::read(p)).await
    }

    async fn write_atomic(&self, dir: &Path, name: &str, bytes: Vec<u8>) -> io::Result<()> {
        let dir: PathBuf = dir.to_path_buf();
        let name = name.to_string();
        blocking(move || {
            use std::io::Write;
            let tmp = dir.join(format!("{name}.tmp"));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_data()?;
            std::fs::rename(&tmp, dir.join(&name))?;
            std::fs::File::open(&dir)?.sync_all()
        })
        .await
    }

    async fn remove(&self, path: &Path) -> io::Result<()> {
        let p = path.to_path_buf();
        blocking(move || match std::fs::remove_file(&p) {
            Ok(()) => sync_dir(&p),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await
    }

    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (from, to) = (from.to_path_buf(), to.to_path_buf());
        blocking(move || {
            std::fs::rename(&from, &to)?;
            sync_dir(&to)
        })
        .await
    }

    async fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        let d = dir.to_path_buf();
        blocking(move || match std::fs::remove_dir_all(&d) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
    }

    fn durable_writes(&self) -> bool {
        self.dsync
    }

    async fn retire(&self, path: &Path) -> io::Result<()> {
        let doomed = reaper::doomed_name(path);
        let (from, to) = (path.to_path_buf(), doomed.clone());
        blocking(move || match std::fs::rename(&from, &to) {
            Ok(()) => sync_dir(&to),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await?;
        reaper::reap(doomed);
        Ok(())
    }

    async fn replace(&self, from: &Path, to: &Path) -> io::Result<()> {
        // A second name keeps the old file's data reachable for the reaper; until the
        // rename, it is the same file as `to`, and the reaper only unlinks a name whose file
        // has another.
        let doomed = reaper::doomed_name(to);
        let (f, t, d) = (from.to_path_buf(), to.to_path_buf(), doomed.clone());
        blocking(move || {
            let _ = std::fs::remove_file(&d);
            std::fs::hard_link(&t, &d)?;
            std::fs::rename(&f, &t)?;
            sync_dir(&t)
        })
        .await?;
        reaper::reap(doomed);
        Ok(())
    }
}

/// Gives back the space of retired segment files in the background. ext4 frees a large
/// file's extents in one go when it is unlinked, journalling as it does, and synchronous
/// writes of every other partition wait behind it (a 1 GiB deletion moved the produce-ack
/// p99 from 3.5 ms to 44 ms here). The reaper waits out readers that may still hold the file,
/// then shrinks it in steps with pauses between them, then unlinks it. One thread for the
/// process: deletions are rare and need no parallelism.
pub mod reaper {
    use crate::limits::{RETIRE_GRACE_MS, RETIRE_PAUSE_MS, RETIRE_STEP_BYTES};
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::sync::mpsc::{channel, Sender};
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    /// Suffix of a segment file waiting for the reaper.
    pub const SUFFIX: &str = ".deleting";

    /// The name a retired file waits under.
    pub fn doomed_name(path: &Path) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(SUFFIX);
        PathBuf::from(name)
    }

    static QUEUE: OnceLock<Mutex<Sender<(Instant, PathBuf)>>> = OnceLock::new();

    /// Queues `path` for deletion after the grace period.
    pub fn reap(path: PathBuf) {
        let queue = QUEUE.get_or_init(|| {
            let (tx, rx) = channel::<(Instant, PathBuf)>();
            let spawned = std::thread::Builder::new()
                .name("myelin-reaper".into())
                .spawn(move || {
                    for (at, path) in rx {
                        let due = at + Duration::from_millis(RETIRE_GRACE_MS);
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                        if let Err(e) = shrink_and_unlink(&path) {
                            tracing::warn!(path = %path.display(), "deleting a retired segment: {e}");
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("cannot start the segment reaper: {e}");
            }
            Mutex::new(tx)
        });
        let sent = queue.lock().map(|q| q.send((Instant::now(), path.clone())));
        if !matches!(sent, Ok(Ok(()))) {
            // No reaper: delete at once, as an unlink would.
            let _ = std::fs::remove_file(path);
        }
    }

    fn shrink_and_unlink(path: &Path) -> std::io::Result<()> {
        let file = match std::fs::OpenOptions::new().write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        // With another name (a crash between link and rename), the data is still in use.
        if meta.nlink() == 1 {
            let mut size = meta.len();
            while size > 0 {
                size = size.saturating_sub(RETIRE_STEP_BYTES);
                file.set_len(size)?;
                std::thread::sleep(Duration::from_millis(RETIRE_PAUSE_MS));
            }
        }
        drop(file);
        std::fs::remove_file(path)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn shrinks_a_lone_file_and_only_unlinks_a_shared_one() {
            let dir = tempfile::tempdir().unwrap();
            let lone = dir.path().join("a.log.deleting");
            std::fs::write(&lone, vec![1u8; 100 << 10]).unwrap();
            shrink_and_unlink(&lone).unwrap();
            assert!(!lone.exists());

            let live = dir.path().join("b.log");
            let doomed = doomed_name(&live);
            std::fs::write(&live, vec![2u8; 100 << 10]).unwrap();
            std::fs::hard_link(&live, &doomed).unwrap();
            shrink_and_unlink(&doomed).unwrap();
            assert!(!doomed.exists());
            assert_eq!(
                std::fs::read(&live).unwrap(),
                vec![2u8; 100 << 10],
                "data kept"
            );
        }
    }
}

/// Every operation counts in the shard's `io_in_flight` gauge while it awaits glommio.
impl SegmentIo for DmaFile {
    async fn write_blocks(&self, position: u64, pieces: &[&[u8]]) -> io::Result<()> {
        let used: usize = pieces.iter().map(|p| p.len()).sum();
        let len = (used as u64).div_ceil(DMA_ALIGNMENT) * DMA_ALIGNMENT;
        // The buffer comes from the executor's registered, aligned I/O memory when it has
        // room, so the write goes to the device without a bounce copy.
        let mut buf = self.alloc_dma_buffer(len as usize);
        let out = buf.as_bytes_mut();
        let mut at = 0;
        for piece in pieces {
            if let Some(dst) = out.get_mut(at..at + piece.len()) {
                dst.copy_from_slice(piece);
            }
            at += piece.len();
        }
        if let Some(rest) = out.get_mut(used..) {
            rest.fill(0);
        }
        let n = {
            let _in_flight = myelin_metrics::IoInFlight::start();
            self.write_at(buf, position).await?
        };
        myelin_metrics::record(|m| m.log_bytes_written.add(n as u64));
        if (n as u64) < len {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short dma write"));
        }
        Ok(())
    }

    async fn read_at(&self, position: u64, len: usize) -> io::Result<Vec<u8>> {
        let _in_flight = myelin_metrics::IoInFlight::start();
        Ok(DmaFile::read_at(self, position, len).await?.to_vec())
    }

    async fn sync(&self) -> io::Result<()> {
        let started = std::time::Instant::now();
        {
            let _in_flight = myelin_metrics::IoInFlight::start();
            self.fdatasync().await?;
        }
        myelin_metrics::record(|m| m.log_sync.record(started.elapsed()));
        Ok(())
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        let _in_flight = myelin_metrics::IoInFlight::start();
        Ok(DmaFile::truncate(self, len).await?)
    }

    async fn allocate(&self, len: u64) -> io::Result<()> {
        let _in_flight = myelin_metrics::IoInFlight::start();
        Ok(self.pre_allocate(len, false).await?)
    }

    async fn size(&self) -> io::Result<u64> {
        let _in_flight = myelin_metrics::IoInFlight::start();
        Ok(self.file_size().await?)
    }

    async fn close(self) -> io::Result<()> {
        let _in_flight = myelin_metrics::IoInFlight::start();
        Ok(DmaFile::close(self).await?)
    }
}

/// Runs glommio's per-device I/O polling probe against a file with real data in `dir`, so
/// that the probe's answer, which is cached for the whole process, is right. Call it before
/// opening any log on that device.
pub async fn probe_device(dir: &Path) -> io::Result<()> {
    let fs = DmaFs::default();
    fs.list(dir).await?;
    let path = dir.join(".myelin-dma-probe");
    let file = fs.create(&path).await?;
    file.close().await?;
    fs.remove(&path).await
}
