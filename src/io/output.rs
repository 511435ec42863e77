//! Outputs that appear whole or not at all.
//!
//! [`AtomicOutput`] writes to a temporary file in the destination's folder
//! and renames it into place only when the command succeeds, after an
//! `fsync`. It refuses to replace an existing file without `--force`, and
//! [`check_outputs`] refuses, before any work starts, an output that exists,
//! sits in a missing folder, or is the same file as an input.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{shown_path, Error, Result, Source};

/// The folder a path lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks, before any work starts, that each output may be written: it does
/// not exist (or `force`), its folder exists, and no two paths (inputs or
/// outputs) are the same file.
pub fn check_outputs(inputs: &[&Source], outputs: &[&Path], force: bool) -> Result<()> {
    for (i, out) in outputs.iter().enumerate() {
        let label = Source::Path(out.to_path_buf());
        for other in &outputs[..i] {
            if same_path(out, other) {
                return Err(Error::SameFile {
                    first: Source::Path(other.to_path_buf()),
                    second: label,
                });
            }
        }
        for input in inputs {
            if let Some(p) = input.path() {
                if same_path(out, p) {
                    return Err(Error::SameFile {
                        first: (*input).clone(),
                        second: label,
                    });
                }
            }
        }
        check_replaceable(out)?;
        if out.exists() && !force {
            return Err(Error::OutputExists { file: label });
        }
        let dir = parent_dir(out);
        if !dir.is_dir() {
            return Err(Error::Write {
                file: label,
                source: io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the folder {} does not exist", shown_path(&dir)),
                ),
            });
        }
    }
    Ok(())
}

/// Refuses to replace anything but a regular file, even with `--force`: a
/// device (`/dev/null`), a FIFO, a socket or a folder would otherwise be
/// replaced by a regular file.
pub fn check_replaceable(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(Error::NotRegularFile {
            file: Source::Path(path.to_path_buf()),
        }),
        _ => Ok(()),
    }
}

/// The same file: by device and inode where both exist (so hard links and
/// symbolic links count), else by folder and name.
fn same_path(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return (x.dev(), x.ino()) == (y.dev(), y.ino());
        }
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => {
            // One may not exist yet: compare folder and name.
            let ca = std::fs::canonicalize(parent_dir(a)).ok();
            let cb = std::fs::canonicalize(parent_dir(b)).ok();
            ca.is_some() && ca == cb && a.file_name() == b.file_name()
        }
    }
}

/// SHA-256 of a stream, computed on its own thread so that hashing a large
/// output does not hold up writing it. Buffers go in by value and come back
/// for reuse.
struct HashPipe {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    back: std::sync::mpsc::Receiver<Vec<u8>>,
    handle: Option<std::thread::JoinHandle<[u8; 32]>>,
}

impl HashPipe {
    fn new() -> HashPipe {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let (back_tx, back) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let hash = move || {
            let mut h = Sha256::new();
            for buf in rx {
                h.update(&buf);
                let _ = back_tx.try_send(buf);
            }
            h.finalize().into()
        };
        let handle = std::thread::Builder::new()
            .name("pl-sha256".into())
            .spawn(hash)
            .ok();
        HashPipe {
            tx: Some(tx),
            back,
            handle,
        }
    }

    /// Hashes `buf` (in order) and returns a spent buffer, if one is back.
    fn feed(&mut self, buf: Vec<u8>) -> Option<Vec<u8>> {
        if let Some(tx) = &self.tx {
            let _ = tx.send(buf);
        }
        self.back.try_recv().ok()
    }

    /// The digest, or `None` if the hashing thread could not run.
    fn finish(mut self) -> Option<[u8; 32]> {
        drop(self.tx.take());
        self.handle.take().and_then(|h| h.join().ok())
    }
}

/// An output that appears under its final name only when committed.
pub struct AtomicOutput {
    inner: OutputInner,
    label: Source,
    hasher: Option<HashPipe>,
}

enum OutputInner {
    Stdout(BufWriter<io::Stdout>),
    File {
        tmp: BufWriter<TempOut>,
        path: PathBuf,
        force: bool,
    },
}

/// Where an output is written before it is committed.
pub enum TempOut {
    /// An unnamed file in the destination's folder (Linux `O_TMPFILE`): a
    /// killed run leaves nothing, not even a name.
    Unnamed(File),
    /// A named temporary file (mode 0600, removed on drop) where unnamed
    /// files are not available: a killed run can leave it behind.
    Named(tempfile::NamedTempFile),
}

impl Write for TempOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            TempOut::Unnamed(f) => f.write(buf),
            TempOut::Named(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            TempOut::Unnamed(f) => f.flush(),
            TempOut::Named(f) => f.flush(),
        }
    }
}

impl TempOut {
    /// A temporary output in `dir` for a file named `name`.
    fn create(dir: &Path, name: &str) -> io::Result<TempOut> {
        if let Some(f) = unnamed_in(dir) {
            return Ok(TempOut::Unnamed(f));
        }
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".pseudolink-partial")
            .tempfile_in(dir)?;
        crate::io::interrupt::register(tmp.path().to_path_buf());
        Ok(TempOut::Named(tmp))
    }

    fn file(&self) -> &File {
        match self {
            TempOut::Unnamed(f) => f,
            TempOut::Named(t) => t.as_file(),
        }
    }

    /// Gives the file the name `path`, which must not exist.
    fn persist_new(self, path: &Path) -> io::Result<()> {
        match self {
            TempOut::Named(t) => t.persist_noclobber(path).map(drop).map_err(|e| e.error),
            TempOut::Unnamed(f) => link_unnamed(&f, path).or_else(|_| {
                // No /proc to link through: copy into a named file instead.
                let mut f = f;
                use std::io::Seek;
                f.seek(io::SeekFrom::Start(0))?;
                let mut t = tempfile::Builder::new()
                    .prefix(".pseudolink.")
                    .suffix(".pseudolink-partial")
                    .tempfile_in(parent_dir(path))?;
                io::copy(&mut f, &mut t)?;
                t.as_file().sync_all()?;
                t.persist_noclobber(path).map(drop).map_err(|e| e.error)
            }),
        }
    }
}

/// An unnamed file in `dir`, mode 0600, where the system offers one.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn unnamed_in(dir: &Path) -> Option<File> {
    use rustix::fs::{openat, Mode, OFlags, CWD};
    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    let fd = openat(CWD, dir, flags, Mode::from_raw_mode(0o600)).ok()?;
    Some(File::from(fd))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn unnamed_in(_dir: &Path) -> Option<File> {
    None
}

/// Links an unnamed file to `path` (failing if `path` exists).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn link_unnamed(f: &File, path: &Path) -> io::Result<()> {
    use rustix::fs::{linkat, AtFlags, CWD};
    use std::os::fd::AsRawFd;
    let proc = format!("/proc/self/fd/{}", f.as_raw_fd());
    linkat(CWD, proc.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW).map_err(io::Error::from)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn link_unnamed(_f: &File, _path: &Path) -> io::Result<()> {
    Err(io::Error::other("no unnamed files here"))
}

impl AtomicOutput {
    /// Output to a file (written to a temporary file beside it), or standard
    /// output when `path` is `None` or `-`.
    pub fn create(path: Option<&Path>, force: bool) -> Result<AtomicOutput> {
        match path {
            Some(p) if p.as_os_str() != "-" => {
                check_replaceable(p)?;
                let label = Source::Path(p.to_path_buf());
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let tmp =
                    TempOut::create(&parent_dir(p), &name).map_err(|source| Error::Write {
                        file: label.clone(),
                        source,
                    })?;
                Ok(AtomicOutput {
                    inner: OutputInner::File {
                        tmp: BufWriter::with_capacity(256 * 1024, tmp),
                        path: p.to_path_buf(),
                        force,
                    },
                    label,
                    hasher: None,
                })
            }
            _ => Ok(AtomicOutput {
                inner: OutputInner::Stdout(BufWriter::with_capacity(256 * 1024, io::stdout())),
                label: Source::Stdout,
                hasher: None,
            }),
        }
    }

    /// Also computes the SHA-256 of everything written (for the manifest).
    pub fn with_sha256(mut self) -> Self {
        self.hasher = Some(HashPipe::new());
        self
    }

    /// How the output is named in messages.
    pub fn label(&self) -> &Source {
        &self.label
    }

    /// Writes bytes, mapping failures to a typed error.
    pub fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.write_hashed(bytes).map_err(|e| self.write_error(e))
    }

    /// Writes a buffer it may keep (to hash it on another thread); returns
    /// a spent buffer for reuse when one is available.
    pub fn put_vec(&mut self, buf: Vec<u8>) -> Result<Option<Vec<u8>>> {
        crate::io::interrupt::check()?;
        self.sink()
            .write_all(&buf)
            .map_err(|e| self.write_error(e))?;
        Ok(match &mut self.hasher {
            Some(h) => h.feed(buf),
            None => Some(buf),
        })
    }

    /// Where the bytes go: standard output or the temporary file.
    fn sink(&mut self) -> &mut dyn Write {
        match &mut self.inner {
            OutputInner::Stdout(w) => w,
            OutputInner::File { tmp, .. } => tmp,
        }
    }

    /// Writes bytes and, when a digest is wanted, hashes a copy.
    fn write_hashed(&mut self, bytes: &[u8]) -> io::Result<()> {
        if crate::io::interrupt::interrupted() {
            return Err(io::Error::other("interrupted"));
        }
        self.sink().write_all(bytes)?;
        if let Some(h) = &mut self.hasher {
            h.feed(bytes.to_vec());
        }
        Ok(())
    }

    fn write_error(&self, source: io::Error) -> Error {
        Error::Write {
            file: self.label.clone(),
            source,
        }
    }

    /// Flushes, syncs and renames into place. Returns the SHA-256 if asked for.
    pub fn commit(self) -> Result<Option<[u8; 32]>> {
        let (digest, staged) = self.stage()?;
        let mut t = Transaction::default();
        t.staged.extend(staged);
        t.commit()?;
        Ok(digest)
    }

    /// Flushes and syncs, ready to be renamed into place by a
    /// [`Transaction`]; standard output is flushed and done. Returns the
    /// SHA-256 if asked for.
    pub fn stage(self) -> Result<(Option<[u8; 32]>, Option<Staged>)> {
        let label = self.label;
        let err = |source| Error::Write {
            file: label.clone(),
            source,
        };
        let digest = match self.hasher {
            None => None,
            Some(pipe) => Some(pipe.finish().ok_or_else(|| {
                err(io::Error::other(
                    "the output could not be hashed for its manifest",
                ))
            })?),
        };
        match self.inner {
            OutputInner::Stdout(mut w) => {
                w.flush().map_err(err)?;
                Ok((digest, None))
            }
            OutputInner::File { tmp, path, force } => {
                crate::io::interrupt::check()?;
                let tmp = tmp.into_inner().map_err(|e| err(e.into_error()))?;
                tmp.file().sync_all().map_err(err)?;
                let staged = Staged {
                    tmp,
                    path,
                    force,
                    label: label.clone(),
                };
                Ok((digest, Some(staged)))
            }
        }
    }
}

/// A written, synced output waiting to be renamed into place.
pub struct Staged {
    tmp: TempOut,
    path: PathBuf,
    force: bool,
    label: Source,
}

/// Outputs that appear together or not at all.
///
/// [`Transaction::commit`] renames every staged output into place while
/// holding a lock on each destination folder (so a second run writing the
/// same files waits, and the set on disk is always one run's), and under
/// the interrupt module's commit lock (so Ctrl-C never stops it half way).
/// A file that `--force` replaces is first moved aside; if any rename
/// fails, the outputs already renamed are removed and the moved files put
/// back, so the folder is as it was.
#[derive(Default)]
pub struct Transaction {
    staged: Vec<Staged>,
}

impl Transaction {
    /// Stages an output (standard output is flushed at once); returns its
    /// SHA-256 if it was asked for.
    pub fn add(&mut self, out: AtomicOutput) -> Result<Option<[u8; 32]>> {
        let (digest, staged) = out.stage()?;
        self.staged.extend(staged);
        Ok(digest)
    }

    /// Renames every staged output into place, or none.
    pub fn commit(self) -> Result<()> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let mut dirs: Vec<PathBuf> = self.staged.iter().map(|s| parent_dir(&s.path)).collect();
        dirs.sort();
        dirs.dedup();
        // Held to the end of the commit (released when dropped).
        let _locks: Vec<File> = dirs.iter().filter_map(|d| lock_dir(d)).collect();
        crate::io::interrupt::commit_lock(|| {
            for s in &self.staged {
                check_replaceable(&s.path)?;
                if !s.force && s.path.exists() {
                    return Err(Error::OutputExists {
                        file: s.label.clone(),
                    });
                }
            }
            let mut done: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
            for s in self.staged {
                match place(s) {
                    Ok(placed) => done.push(placed),
                    Err(e) => {
                        roll_back(done);
                        return Err(e);
                    }
                }
            }
            for (path, aside) in &done {
                if let Some(a) = aside {
                    let _ = std::fs::remove_file(a);
                }
                if let Ok(dir) = File::open(parent_dir(path)) {
                    let _ = dir.sync_all();
                }
            }
            Ok(())
        })
    }
}

/// A lock on a folder, held while outputs are renamed into it (Unix and
/// Windows alike where a folder can be opened; elsewhere none).
fn lock_dir(dir: &Path) -> Option<File> {
    let f = File::open(dir).ok()?;
    f.lock().ok()?;
    Some(f)
}

/// Renames one output into place, moving aside the file it replaces;
/// returns (its path, where the old file was moved).
fn place(s: Staged) -> Result<(PathBuf, Option<PathBuf>)> {
    let err = |source| Error::Write {
        file: s.label.clone(),
        source,
    };
    let aside = if s.path.exists() {
        let name = s
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let a = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".pseudolink-replaced")
            .tempfile_in(parent_dir(&s.path))
            .map_err(err)?
            .into_temp_path();
        let a = a.keep().map_err(|e| err(e.error))?;
        std::fs::rename(&s.path, &a).map_err(err)?;
        Some(a)
    } else {
        None
    };
    match s.tmp.persist_new(&s.path) {
        Ok(()) => Ok((s.path, aside)),
        Err(e) => {
            if let Some(a) = &aside {
                let _ = std::fs::rename(a, &s.path);
            }
            if e.kind() == io::ErrorKind::AlreadyExists {
                Err(Error::OutputExists { file: s.label })
            } else {
                Err(err(e))
            }
        }
    }
}

/// Undoes the renames done so far: each new file removed, each moved file
/// put back.
fn roll_back(done: Vec<(PathBuf, Option<PathBuf>)>) {
    for (path, aside) in done.into_iter().rev() {
        let _ = std::fs::remove_file(&path);
        if let Some(a) = aside {
            let _ = std::fs::rename(&a, &path);
        }
    }
}

impl Write for AtomicOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_hashed(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sink().flush()
    }
}

#[cfg(test)]
mod transaction_tests {
    use super::*;

    fn write(path: &Path, text: &str, force: bool) -> AtomicOutput {
        let mut out = AtomicOutput::create(Some(path), force).unwrap();
        out.put(text.as_bytes()).unwrap();
        out
    }

    /// A rename that fails half way puts everything back: the output
    /// already renamed is removed and the file it replaced restored.
    #[test]
    fn a_failed_commit_leaves_the_folder_as_it_was() {
        let a_dir = tempfile::tempdir().unwrap();
        let b_dir = tempfile::tempdir().unwrap();
        let a = a_dir.path().join("a.csv");
        std::fs::write(&a, "old a").unwrap();
        let b = b_dir.path().join("b.csv");
        let mut t = Transaction::default();
        t.add(write(&a, "new a", true)).unwrap();
        t.add(write(&b, "new b", true)).unwrap();
        // The second destination's folder disappears before the commit.
        let b_path = b_dir.path().to_path_buf();
        drop(b_dir);
        assert!(!b_path.exists());
        assert!(t.commit().is_err());
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "old a", "restored");
        let left: Vec<_> = std::fs::read_dir(a_dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary or moved-aside file is left");
    }

    #[test]
    fn a_commit_replaces_every_output_together() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "old").unwrap();
        let mut t = Transaction::default();
        t.add(write(&a, "new a", true)).unwrap();
        t.add(write(&b, "new b", false)).unwrap();
        t.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "new a");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "new b");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        // Without --force an output that appeared meanwhile is refused,
        // and nothing is renamed.
        let mut t = Transaction::default();
        t.add(write(&dir.path().join("c"), "c", false)).unwrap();
        t.add(write(&a, "newer", false)).unwrap();
        assert!(matches!(t.commit(), Err(Error::OutputExists { .. })));
        assert!(!dir.path().join("c").exists());
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "new a");
    }
}
