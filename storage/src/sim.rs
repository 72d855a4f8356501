//! A simulated disk for tests: files in memory, with the failures real disks have, driven by
//! a seed so that any failure can be replayed.
//!
//! Each file keeps what is durable apart from what was written since the last sync. A
//! simulated crash ([`SimFs::crash`]) keeps the durable bytes and a random prefix of the
//! unsynced writes, the last of them possibly torn at a sector boundary. A capacity turns
//! writes beyond it into ENOSPC, [`SimFs::fail_io`] makes one path fail with EIO, and
//! [`SimFs::flip_bit`] corrupts a durable byte. Directory operations are durable at once, as
//! [`crate::fs::DmaFs`] makes them with a directory sync.

use crate::fs::{FileSystem, SegmentIo};
use crate::limits::DMA_ALIGNMENT;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Torn writes are cut at this granularity, a disk sector.
const SECTOR: usize = 512;

enum Op {
    Write(u64, Vec<u8>),
    Resize(u64),
}

#[derive(Default)]
struct FileData {
    durable: Vec<u8>,
    current: Vec<u8>,
    unsynced: Vec<Op>,
}

#[derive(Default)]
struct Disk {
    names: BTreeMap<PathBuf, u64>,
    files: HashMap<u64, FileData>,
    next_id: u64,
    /// Incremented by every crash; handles from before a crash fail.
    boot: u64,
    rng: u64,
    capacity: Option<u64>,
    failing: Option<String>,
    bytes_read: u64,
}

impl Disk {
    fn next(&mut self) -> u64 {
        // splitmix64: small, fast, and good enough to pick fault points.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn used(&self) -> u64 {
        self.files.values().map(|f| f.current.len() as u64).sum()
    }

    fn check(&self, path: &Path) -> io::Result<()> {
        match &self.failing {
            Some(p) if path.to_string_lossy().contains(p.as_str()) => {
                Err(io::Error::other("simulated i/o error"))
            }
            _ => Ok(()),
        }
    }
}

fn apply(data: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Write(pos, bytes) => {
            let pos = *pos as usize;
            if data.len() < pos + bytes.len() {
                data.resize(pos + bytes.len(), 0);
            }
            if let Some(dst) = data.get_mut(pos..pos + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        }
        Op::Resize(len) => data.resize(*len as usize, 0),
    }
}

/// The simulated file system; clones share one disk.
#[derive(Clone, Default)]
pub struct SimFs {
    disk: Rc<RefCell<Disk>>,
}

/// An open file on a [`SimFs`].
pub struct SimFile {
    disk: Rc<RefCell<Disk>>,
    id: u64,
    path: PathBuf,
    boot: u64,
}

impl SimFs {
    /// An empty disk whose faults follow `seed`.
    pub fn new(seed: u64) -> SimFs {
        let disk = Disk {
            rng: seed,
            ..Disk::default()
        };
        SimFs {
            disk: Rc::new(RefCell::new(disk)),
        }
    }

    /// Loses power: every file keeps its durable bytes plus a random prefix of its unsynced
    /// writes, the last one possibly torn. Open handles stop working.
    pub fn crash(&self) {
        let mut d = self.disk.borrow_mut();
        d.boot += 1;
        let live: Vec<u64> = d.names.values().copied().collect();
        d.files.retain(|id, _| live.contains(id));
        let mut ids: Vec<u64> = d.files.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(mut f) = d.files.remove(&id) else {
                continue;
            };
            let ops = std::mem::take(&mut f.unsynced);
            let kept = d.below(ops.len() + 1);
            for op in ops.iter().take(kept) {
                apply(&mut f.durable, op);
            }
            if let Some(Op::Write(pos, bytes)) = ops.get(kept) {
                let sectors = bytes.len().div_ceil(SECTOR);
                let torn = d.below(sectors + 1) * SECTOR;
                let part = bytes.get(..torn.min(bytes.len())).unwrap_or_default();
                apply(&mut f.durable, &Op::Write(*pos, part.to_vec()));
            }
            f.current = f.durable.clone();
            d.files.insert(id, f);
        }
    }

    /// Writes beyond `bytes` in total fail with ENOSPC; `None` lifts the limit.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.disk.borrow_mut().capacity = bytes;
    }

    /// Bytes stored on the disk now.
    pub fn used(&self) -> u64 {
        self.disk.borrow().used()
    }

    /// Bytes read from segment files so far.
    pub fn bytes_read(&self) -> u64 {
        self.disk.borrow().bytes_read
    }

    /// Every operation on a path containing `fragment` fails with an I/O error; `None` heals.
    pub fn fail_io(&self, fragment: Option<&str>) {
        self.disk.borrow_mut().failing = fragment.map(str::to_string);
    }

    /// Flips one random bit in the durable bytes of a random file whose name ends with
    /// `suffix`, and returns the file and byte position, or `None` if there is no such file.
    pub fn flip_bit(&self, suffix: &str) -> Option<(PathBuf, usize)> {
        let mut d = self.disk.borrow_mut();
        let candidates: Vec<(PathBuf, u64)> = d
            .names
            .iter()
            .filter(|(p, _)| p.to_string_lossy().ends_with(suffix))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        let pick = d.below(candidates.len());
        let (path, id) = candidates.get(pick)?.clone();
        let len = d.files.get(&id).map_or(0, |f| f.durable.len());
        if len == 0 {
            return None;
        }
        let at = d.below(len);
        let bit = d.below(8);
        let f = d.files.get_mut(&id)?;
        if let Some(b) = f.durable.get_mut(at) {
            *b ^= 1 << bit;
        }
        if let Some(b) = f.current.get_mut(at) {
            *b ^= 1 << bit;
        }
        Some((path, at))
    }

    fn handle(&self, path: &Path) -> io::Result<SimFile> {
        let d = self.disk.borrow();
        d.check(path)?;
        let id = *d.names.get(path).ok_or(io::ErrorKind::NotFound)?;
        Ok(SimFile {
            disk: self.disk.clone(),
            id,
            path: path.to_path_buf(),
            boot: d.boot,
        })
    }
}

impl FileSystem for SimFs {
    type File = SimFile;

    async fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let d = self.disk.borrow();
        d.check(dir)?;
        Ok(d.names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
            .collect())
    }

    async fn create(&self, path: &Path) -> io::Result<SimFile> {
        {
            let mut d = self.disk.borrow_mut();
            d.check(path)?;
            if !d.names.contains_key(path) {
                if d.capacity.is_some_and(|c| d.used() + DMA_ALIGNMENT > c) {
                    return Err(io::ErrorKind::StorageFull.into());
                }
                let id = d.next_id;
                d.next_id += 1;
                let block = vec![0u8; DMA_ALIGNMENT as usize];
                d.files.insert(
                    id,
                    FileData {
                        durable: block.clone(),
                        current: block,
                        unsynced: Vec::new(),
                    },
                );
                d.names.insert(path.to_path_buf(), id);
            }
        }
        self.handle(path)
    }

    async fn open(&self, path: &Path) -> io::Result<SimFile> {
        self.handle(path)
    }

    async fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let d = self.disk.borrow();
        d.check(path)?;
        let id = d.names.get(path).ok_or(io::ErrorKind::NotFound)?;
        Ok(d.files
            .get(id)
            .map(|f| f.current.clone())
            .unwrap_or_default())
    }

    async fn write_atomic(&self, dir: &Path, name: &str, bytes: Vec<u8>) -> io::Result<()> {
        let path = dir.join(name);
        let mut d = self.disk.borrow_mut();
        d.check(&path)?;
        if d.capacity
            .is_some_and(|c| d.used() + bytes.len() as u64 > c)
        {
            return Err(io::ErrorKind::StorageFull.into());
        }
        let id = d.next_id;
        d.next_id += 1;
        d.files.insert(
            id,
            FileData {
                durable: bytes.clone(),
                current: bytes,
                unsynced: Vec::new(),
            },
        );
        if let Some(old) = d.names.insert(path, id) {
            d.files.remove(&old);
        }
        Ok(())
    }

    async fn remove(&self, path: &Path) -> io::Result<()> {
        let mut d = self.disk.borrow_mut();
        d.check(path)?;
        // The data stays while handles are open, as on Linux; a crash reclaims it.
        d.names.remove(path);
        Ok(())
    }

    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut d = self.disk.borrow_mut();
        d.check(from)?;
        let id = d.names.remove(from).ok_or(io::ErrorKind::NotFound)?;
        d.names.insert(to.to_path_buf(), id);
        Ok(())
    }

    async fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut d = self.disk.borrow_mut();
        d.names.retain(|p, _| !p.starts_with(dir));
        Ok(())
    }
}

impl SimFile {
    fn with<T>(&self, f: impl FnOnce(&mut Disk, u64) -> io::Result<T>) -> io::Result<T> {
        let mut d = self.disk.borrow_mut();
        if d.boot != self.boot {
            return Err(io::Error::other("file handle from before a crash"));
        }
        d.check(&self.path)?;
        f(&mut d, self.id)
    }
}

fn no_file() -> io::Error {
    io::ErrorKind::NotFound.into()
}

impl SegmentIo for SimFile {
    async fn write_blocks(&self, position: u64, pieces: &[&[u8]]) -> io::Result<()> {
        if position % DMA_ALIGNMENT != 0 {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        self.with(|d, id| {
            let mut bytes: Vec<u8> = pieces.concat();
            let len = (bytes.len() as u64).div_ceil(DMA_ALIGNMENT) * DMA_ALIGNMENT;
            bytes.resize(len as usize, 0);
            let size = d.files.get(&id).map_or(0, |f| f.current.len() as u64);
            let growth = (position + len).saturating_sub(size);
            if d.capacity.is_some_and(|c| d.used() + growth > c) {
                return Err(io::ErrorKind::StorageFull.into());
            }
            let f = d.files.get_mut(&id).ok_or_else(no_file)?;
            let op = Op::Write(position, bytes);
            apply(&mut f.current, &op);
            f.unsynced.push(op);
            Ok(())
        })
    }

    async fn read_at(&self, position: u64, len: usize) -> io::Result<Vec<u8>> {
        self.with(|d, id| {
            let f = d.files.get(&id).ok_or_else(no_file)?;
            if f.current.is_empty() {
                // As glommio's O_DIRECT reads do on an empty file: segment files must never
                // be left without a block.
                return Err(io::ErrorKind::Unsupported.into());
            }
            let start = (position as usize).min(f.current.len());
            let end = (start + len).min(f.current.len());
            let out = f.current.get(start..end).unwrap_or_default().to_vec();
            d.bytes_read += out.len() as u64;
            Ok(out)
        })
    }

    async fn sync(&self) -> io::Result<()> {
        self.with(|d, id| {
            let f = d.files.get_mut(&id).ok_or_else(no_file)?;
            for op in std::mem::take(&mut f.unsynced) {
                apply(&mut f.durable, &op);
            }
            Ok(())
        })
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.with(|d, id| {
            let f = d.files.get_mut(&id).ok_or_else(no_file)?;
            let op = Op::Resize(len);
            apply(&mut f.current, &op);
            f.unsynced.push(op);
            Ok(())
        })
    }

    async fn allocate(&self, len: u64) -> io::Result<()> {
        self.with(|d, id| {
            let size = d.files.get(&id).map_or(0, |f| f.current.len() as u64);
            if len <= size {
                return Ok(());
            }
            if d.capacity.is_some_and(|c| d.used() + (len - size) > c) {
                return Err(io::ErrorKind::StorageFull.into());
            }
            let f = d.files.get_mut(&id).ok_or_else(no_file)?;
            let op = Op::Resize(len);
            apply(&mut f.current, &op);
            f.unsynced.push(op);
            Ok(())
        })
    }

    async fn size(&self) -> io::Result<u64> {
        self.with(|d, id| Ok(d.files.get(&id).map_or(0, |f| f.current.len() as u64)))
    }

    async fn close(self) -> io::Result<()> {
        Ok(())
    }
}
