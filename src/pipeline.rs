//! An ordered parallel map: one reader, N workers, one in-order consumer.
//!
//! Work is split by parsed batches of records, never by raw lines, so quoted
//! fields with embedded newlines stay whole. The consumer sees results in
//! the order the producer made them, so output is byte-identical whatever the
//! thread count. Memory is bounded: at most `2 × threads + 2` batches are in
//! flight at once.

use std::collections::BTreeMap;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// A small pool of reusable buffers shared between threads, so that the
/// hot loop does not allocate (and fault in fresh pages) for every batch.
pub struct Pool<T> {
    items: Arc<Mutex<Vec<T>>>,
}

impl<T> Clone for Pool<T> {
    fn clone(&self) -> Self {
        Pool {
            items: Arc::clone(&self.items),
        }
    }
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Pool {
            items: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl<T: Default> Pool<T> {
    /// Most buffers kept; more are dropped.
    const KEEP: usize = 32;

    /// A buffer from the pool, or a new one.
    pub fn get(&self) -> T {
        self.items
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_default()
    }

    /// Returns a buffer (already cleared by the caller) to the pool.
    pub fn put(&self, item: T) {
        if let Ok(mut v) = self.items.lock() {
            if v.len() < Self::KEEP {
                v.push(item);
            }
        }
    }
}

/// The number of worker threads to use when none is given: the available
/// cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Runs `produce` until it returns `None`, applies `work` to each item (in
/// parallel when `threads > 1`) and hands results to `consume` in order.
///
/// The first error from the producer or the consumer stops everything and is
/// returned; the producer's error wins when both fail.
pub fn run_ordered<I, O, P, W, C>(
    threads: usize,
    mut produce: P,
    work: W,
    mut consume: C,
) -> Result<()>
where
    I: Send,
    O: Send,
    P: FnMut() -> Result<Option<I>> + Send,
    W: Fn(I) -> O + Sync,
    C: FnMut(O) -> Result<()>,
{
    if threads <= 1 {
        while let Some(item) = produce()? {
            consume(work(item))?;
        }
        return Ok(());
    }
    let in_flight = 2 * threads + 2;
    let (work_tx, work_rx) = sync_channel::<(u64, I)>(threads);
    let (done_tx, done_rx) = sync_channel::<(u64, O)>(in_flight);
    let (slot_tx, slot_rx) = sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        slot_tx.send(()).expect("receiver alive");
    }
    // Shared by the workers only: when the last one stops, the receiver is
    // dropped and a producer blocked on a full queue is released.
    let work_rx = Arc::new(Mutex::new(work_rx));
    let work = &work;
    std::thread::scope(|scope| {
        let producer = std::thread::Builder::new()
            .name("pl-reader".into())
            .spawn_scoped(scope, move || -> Result<()> {
                let mut seq = 0u64;
                loop {
                    if slot_rx.recv().is_err() {
                        return Ok(()); // consumer stopped
                    }
                    match produce()? {
                        None => return Ok(()),
                        Some(item) => {
                            if work_tx.send((seq, item)).is_err() {
                                return Ok(());
                            }
                            seq += 1;
                        }
                    }
                }
            });
        let producer = match producer {
            Ok(handle) => handle,
            Err(e) => return Err(Error::Usage(format!("cannot start a thread: {e}"))),
        };
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let work_rx = Arc::clone(&work_rx);
            let spawned = std::thread::Builder::new()
                .name("pl-worker".into())
                .spawn_scoped(scope, move || loop {
                    let next = recv_shared(&work_rx);
                    let Some((seq, item)) = next else { return };
                    if done_tx.send((seq, work(item))).is_err() {
                        return;
                    }
                });
            if let Err(e) = spawned {
                return Err(Error::Usage(format!("cannot start a thread: {e}")));
            }
        }
        drop(done_tx);
        drop(work_rx);
        let consumed = consume_in_order(&done_rx, &slot_tx, &mut consume);
        // Unblock everyone before joining: no more results are wanted.
        drop(done_rx);
        drop(slot_tx);
        let produced = producer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        produced.and(consumed)
    })
}

fn recv_shared<T>(rx: &Mutex<Receiver<T>>) -> Option<T> {
    let guard = rx.lock().ok()?;
    guard.recv().ok()
}

fn consume_in_order<O>(
    rx: &Receiver<(u64, O)>,
    slots: &std::sync::mpsc::SyncSender<()>,
    consume: &mut impl FnMut(O) -> Result<()>,
) -> Result<()> {
    let mut next = 0u64;
    let mut waiting = BTreeMap::new();
    for (seq, out) in rx.iter() {
        waiting.insert(seq, out);
        while let Some(out) = waiting.remove(&next) {
            consume(out)?;
            next += 1;
            let _ = slots.send(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_preserved_for_every_thread_count() {
        for threads in [1, 2, 3, 8] {
            let mut n = 0u64;
            let mut got = Vec::new();
            run_ordered(
                threads,
                || {
                    n += 1;
                    Ok((n <= 500).then_some(n))
                },
                |x| {
                    if x % 7 == 0 {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                    x * 2
                },
                |y| {
                    got.push(y);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(
                got,
                (1..=500).map(|x| x * 2).collect::<Vec<_>>(),
                "{threads}"
            );
        }
    }

    #[test]
    fn errors_stop_the_run() {
        for threads in [1, 2] {
            let mut n = 0;
            let r = run_ordered(
                threads,
                || {
                    n += 1;
                    if n == 50 {
                        Err(Error::Usage("producer failed".into()))
                    } else {
                        Ok(Some(n))
                    }
                },
                |x| x,
                |_| Ok(()),
            );
            assert_eq!(r.unwrap_err().to_string(), "producer failed");
            let mut n = 0;
            let r = run_ordered(
                threads,
                || {
                    n += 1;
                    Ok(Some(n))
                },
                |x| x,
                |x| {
                    if x == 10 {
                        Err(Error::Usage("consumer failed".into()))
                    } else {
                        Ok(())
                    }
                },
            );
            assert_eq!(r.unwrap_err().to_string(), "consumer failed");
        }
    }
}
