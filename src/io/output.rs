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
        tmp: BufWriter<tempfile::NamedTempFile>,
        path: PathBuf,
        force: bool,
    },
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
                let tmp = tempfile::Builder::new()
                    .prefix(&format!(".{name}."))
                    .suffix(".pseudolink-partial")
                    .tempfile_in(parent_dir(p))
                    .map_err(|source| Error::Write {
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
            OutputInner::Stdout(mut w) => w.flush().map_err(err)?,
            OutputInner::File { tmp, path, force } => {
                let tmp = tmp.into_inner().map_err(|e| err(e.into_error()))?;
                tmp.as_file().sync_all().map_err(err)?;
                check_replaceable(&path)?;
                let persisted = if force {
                    tmp.persist(&path)
                } else {
                    tmp.persist_noclobber(&path)
                };
                persisted.map_err(|e| {
                    if e.error.kind() == io::ErrorKind::AlreadyExists {
                        Error::OutputExists {
                            file: label.clone(),
                        }
                    } else {
                        err(e.error)
                    }
                })?;
                if let Ok(dir) = File::open(parent_dir(&path)) {
                    let _ = dir.sync_all();
                }
            }
        }
        Ok(digest)
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
