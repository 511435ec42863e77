//! An ordered parallel map: N workers, one in-order consumer.
//!
//! Each worker takes the next item from the shared producer (under a lock)
//! and processes it, so reading, parsing and processing a batch happen on
//! one core. Work is split by parsed batches of records, never by raw
//! lines, so quoted fields with embedded newlines stay whole. The consumer
//! sees results in the order the producer made them, so output is
//! byte-identical whatever the thread count. Memory is bounded: at most
//! [`in_flight`]`(threads)` batches exist at once.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
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

/// How many items may be taken and not yet consumed: two per worker, and
/// eight to spare. The consumer (and, for `tokenise`, the thread hashing
/// its output) share the cores with the workers, so each is sometimes off
/// the CPU for a time slice; the spare items keep the workers busy
/// meanwhile. With two spare, 10M-row tokenise runs idled about a tenth of
/// the machine; eight spare made them 5% faster for 3 MiB (twenty-four,
/// no better).
pub fn in_flight(threads: usize) -> usize {
    2 * threads + 8
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
    let in_flight = in_flight(threads);
    let (done_tx, done_rx) = sync_channel::<(u64, std::thread::Result<O>)>(in_flight);
    let (slot_tx, slot_rx) = sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        slot_tx.send(()).expect("receiver alive");
    }
    // The producer is shared by the workers: each takes the next item
    // itself and works on it, so an item is read, parsed and processed on
    // one core, with its bytes still in that core's cache.
    let source = Mutex::new(Source {
        produce,
        slots: slot_rx,
        seq: 0,
        stopped: false,
        error: None,
    });
    let (source_ref, work) = (&source, &work);
    let consumed = std::thread::scope(|scope| {
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let spawned = std::thread::Builder::new()
                .name("pl-worker".into())
                .spawn_scoped(scope, move || {
                    while let Some((seq, item)) = take(source_ref) {
                        // A panic goes to the consumer, which stops the
                        // others before it is raised again; otherwise the
                        // consumer would wait for this item for ever.
                        let out = std::panic::catch_unwind(AssertUnwindSafe(|| work(item)));
                        let panicked = out.is_err();
                        if done_tx.send((seq, out)).is_err() || panicked {
                            return;
                        }
                    }
                });
            if let Err(e) = spawned {
                drop(slot_tx);
                stop(source_ref);
                return Err(Stop::Failed(Error::Usage(format!(
                    "cannot start a thread: {e}"
                ))));
            }
        }
        drop(done_tx);
        let consumed = consume_in_order(&done_rx, &slot_tx, &mut consume);
        // Unblock everyone before the scope joins: no more results are wanted.
        drop(done_rx);
        drop(slot_tx);
        stop(source_ref);
        consumed
    });
    let source = source.into_inner().unwrap_or_else(|p| p.into_inner());
    match (consumed, source.error) {
        (Err(Stop::Panicked(payload)), _) => std::panic::resume_unwind(payload),
        (_, Some(e)) => Err(e),
        (Err(Stop::Failed(e)), None) => Err(e),
        (Ok(()), None) => Ok(()),
    }
}

/// The producer and its bookkeeping, shared by the workers under a lock.
struct Source<P> {
    produce: P,
    /// A token per item allowed in flight; the consumer returns them.
    slots: Receiver<()>,
    seq: u64,
    stopped: bool,
    error: Option<Error>,
}

/// The next item and its sequence number, or `None` once the producer has
/// finished or failed, or the consumer has stopped.
fn take<I, P>(source: &Mutex<Source<P>>) -> Option<(u64, I)>
where
    P: FnMut() -> Result<Option<I>>,
{
    let mut s = source.lock().ok()?;
    if s.stopped {
        return None;
    }
    if s.slots.recv().is_err() {
        s.stopped = true; // the consumer stopped
        return None;
    }
    match (s.produce)() {
        Ok(Some(item)) => {
            let seq = s.seq;
            s.seq += 1;
            Some((seq, item))
        }
        Ok(None) => {
            s.stopped = true;
            None
        }
        Err(e) => {
            s.stopped = true;
            s.error = Some(e);
            None
        }
    }
}

/// Stops the workers taking more items.
fn stop<P>(source: &Mutex<Source<P>>) {
    if let Ok(mut s) = source.lock() {
        s.stopped = true;
    }
}

/// Why the consumer stopped early.
enum Stop {
    /// The consumer failed.
    Failed(Error),
    /// A worker panicked; the payload is re-raised once every thread is done.
    Panicked(Box<dyn std::any::Any + Send>),
}

fn consume_in_order<O>(
    rx: &Receiver<(u64, std::thread::Result<O>)>,
    slots: &std::sync::mpsc::SyncSender<()>,
    consume: &mut impl FnMut(O) -> Result<()>,
) -> std::result::Result<(), Stop> {
    let mut next = 0u64;
    let mut waiting = BTreeMap::new();
    for (seq, out) in rx.iter() {
        waiting.insert(seq, out.map_err(Stop::Panicked)?);
        while let Some(out) = waiting.remove(&next) {
            consume(out).map_err(Stop::Failed)?;
            next += 1;
            let _ = slots.send(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A producer of `1..=last`.
    fn count_to(last: u64) -> impl FnMut() -> Result<Option<u64>> + Send {
        let mut n = 0;
        move || {
            n += 1;
            Ok((n <= last).then_some(n))
        }
    }

    #[test]
    fn order_is_preserved_for_every_thread_count() {
        for threads in [1, 2, 3, 8] {
            let mut got = Vec::new();
            run_ordered(
                threads,
                count_to(500),
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

    /// A panic in a worker reaches the caller (as in one thread) instead of
    /// leaving the consumer waiting for the lost item.
    #[test]
    fn a_worker_panic_is_raised_not_hung() {
        for threads in [1, 2, 3] {
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
                run_ordered(
                    threads,
                    count_to(200),
                    |x| {
                        assert!(x != 17, "worker fails on item 17");
                        x
                    },
                    |_| Ok(()),
                )
            }));
            let payload = r.expect_err("the panic is raised");
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            assert!(text.contains("item 17"), "{threads}: {text}");
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
            let r = run_ordered(
                threads,
                count_to(u64::MAX),
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
