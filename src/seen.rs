//! Counting duplicate NHS numbers exactly, in bounded memory.
//!
//! A valid number is fixed by its first nine digits (below 10^9, 30 bits).
//! [`SeenNumbers`] keeps two bytes per number: the top 14 bits pick one of
//! 16,384 buckets and the low 16 bits are stored in it; duplicates are
//! counted at the end by marking each bucket's values in an 8 KiB bit map
//! (sorted runs when spilled; see below). That covers any realistic
//! referral file (10 million rows take about 20 MiB).
//!
//! Numbers arrive in random order, and writing each straight into one of
//! 16,384 buckets missed the cache almost every time. So they are first
//! staged: appended to one of 128 small buffers (by the top seven bits of
//! their bucket), and a full buffer is moved into its 128 neighbouring
//! buckets in one go, which stays in cache.
//!
//! Past [`DEFAULT_LIMIT`] numbers held, the buckets are spilled to an
//! unnamed temporary file as a sorted run, and the runs are merged at the
//! end, so memory stays bounded whatever the input size. Spilling works
//! bucket by bucket, in place, so it needs no extra memory. Nothing
//! identifying reaches the disk: the bucket number and the 16 low bits are
//! each put through a keyed permutation (a four-round Feistel network whose
//! round function is SipHash, with keys drawn at random for this run and
//! never stored), so the spilled codes are meaningless without the
//! in-memory keys, yet still distinct for distinct numbers.

use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::BinaryHeap;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Numbers held in memory before a spill: about 24 MiB of buckets.
pub const DEFAULT_LIMIT: usize = 12_000_000;

const BUCKETS: usize = 1 << 14;
/// Staging buffers, each feeding `BUCKETS / STAGES` neighbouring buckets.
const STAGES: usize = 1 << 7;
/// Numbers a staging buffer holds before it is moved into the buckets.
const STAGE_CAP: usize = 512;

/// The bucket of a prefix: its top 14 bits (a prefix is below 2^30).
fn bucket_of(prefix: u32) -> usize {
    (prefix >> 16) as usize % BUCKETS
}

/// Keyed bijections on the 14-bit bucket numbers and the 16-bit low parts.
struct Permutation {
    keys: RandomState,
}

impl Permutation {
    fn new() -> Permutation {
        Permutation {
            keys: RandomState::new(),
        }
    }

    /// A four-round Feistel network on `bits` bits (even), keyed by `domain`.
    fn feistel(&self, domain: u8, bits: u32, x: u32) -> u32 {
        let half = bits / 2;
        let mask = (1u32 << half) - 1;
        let (mut l, mut r) = (x >> half, x & mask);
        for round in 0..4u8 {
            let f = (self.keys.hash_one((domain, round, r)) as u32) & mask;
            let next = l ^ f;
            l = r;
            r = next;
        }
        (l << half) | r
    }

    fn bucket(&self, b: u32) -> u32 {
        self.feistel(0, 14, b)
    }

    fn low(&self, x: u16) -> u16 {
        self.feistel(1, 16, u32::from(x)) as u16
    }
}

/// The record of numbers seen, to count duplicates.
pub struct SeenNumbers {
    buckets: Vec<Vec<u16>>,
    /// `STAGES` buffers of `STAGE_CAP` whole prefixes, back to back.
    stage: Vec<u32>,
    stage_len: Vec<usize>,
    /// Numbers in the buckets (staged ones not included).
    held: usize,
    limit: usize,
    total: u64,
    perm: Option<Permutation>,
    runs: Vec<(File, u64)>,
}

impl Default for SeenNumbers {
    fn default() -> Self {
        SeenNumbers::with_limit(DEFAULT_LIMIT)
    }
}

impl SeenNumbers {
    /// Spills to disk once more than `limit` numbers are held.
    pub fn with_limit(limit: usize) -> SeenNumbers {
        SeenNumbers {
            buckets: vec![Vec::new(); BUCKETS],
            stage: vec![0; STAGES * STAGE_CAP],
            stage_len: vec![0; STAGES],
            held: 0,
            limit: limit.max(1),
            total: 0,
            perm: None,
            runs: Vec::new(),
        }
    }

    /// Records the prefix of a valid number (see
    /// [`crate::nhs::NhsNumber::prefix`]).
    pub fn insert(&mut self, prefix: u32) -> io::Result<()> {
        let s = bucket_of(prefix) / (BUCKETS / STAGES);
        let len = self.stage_len[s];
        self.stage[s * STAGE_CAP + len] = prefix;
        self.stage_len[s] = len + 1;
        self.total += 1;
        if len + 1 == STAGE_CAP {
            self.unstage(s)?;
        }
        Ok(())
    }

    /// Records many prefixes.
    pub fn insert_all(&mut self, prefixes: &[u32]) -> io::Result<()> {
        prefixes.iter().try_for_each(|&p| self.insert(p))
    }

    /// Moves staging buffer `s` into its buckets, spilling if that fills
    /// memory.
    fn unstage(&mut self, s: usize) -> io::Result<()> {
        let len = std::mem::take(&mut self.stage_len[s]);
        for &prefix in &self.stage[s * STAGE_CAP..s * STAGE_CAP + len] {
            let bucket = &mut self.buckets[bucket_of(prefix)];
            if bucket.capacity() == 0 {
                // Start at 128 bytes: a bucket holds 61 numbers per million
                // rows, and growing from 4 would mean a storm of reallocs.
                bucket.reserve_exact(64);
            }
            bucket.push(prefix as u16);
        }
        self.held += len;
        if self.held >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes the held numbers, permuted and sorted, as one run, bucket by
    /// bucket in place.
    fn spill(&mut self) -> io::Result<()> {
        let perm = self.perm.get_or_insert_with(Permutation::new);
        let mut order: Vec<(u32, usize)> = (0..BUCKETS)
            .filter(|&b| !self.buckets[b].is_empty())
            .map(|b| (perm.bucket(b as u32), b))
            .collect();
        order.sort_unstable();
        let mut file = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
        for (pb, b) in order {
            let bucket = &mut self.buckets[b];
            for x in bucket.iter_mut() {
                *x = perm.low(*x);
            }
            bucket.sort_unstable();
            for &x in bucket.iter() {
                file.write_all(&((pb << 16) | u32::from(x)).to_le_bytes())?;
            }
            bucket.clear();
        }
        let mut file = file.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        self.runs.push((file, self.held as u64));
        self.held = 0;
        Ok(())
    }

    /// Rows whose number appeared on an earlier row: numbers seen minus
    /// distinct numbers.
    pub fn duplicates(mut self) -> io::Result<u64> {
        for s in 0..STAGES {
            self.unstage(s)?;
        }
        if self.runs.is_empty() {
            // A bucket's low parts are 16 bits: mark each in a 65,536-bit
            // map (8 KiB, in cache), then unmark them, which is faster than
            // sorting.
            let mut map = vec![0u64; 1 << 10];
            let mut dups = 0u64;
            for b in &mut self.buckets {
                for &x in b.iter() {
                    let (word, bit) = (usize::from(x >> 6), 1u64 << (x & 63));
                    dups += u64::from(map[word] & bit != 0);
                    map[word] |= bit;
                }
                for &x in b.iter() {
                    map[usize::from(x >> 6)] = 0;
                }
                *b = Vec::new();
            }
            return Ok(dups);
        }
        if self.held > 0 {
            self.spill()?;
        }
        self.buckets = Vec::new();
        // Merge the sorted runs, counting distinct codes.
        let mut readers: Vec<(BufReader<File>, u64)> = self
            .runs
            .drain(..)
            .map(|(f, n)| (BufReader::with_capacity(1 << 16, f), n))
            .collect();
        let next =
            |i: usize, readers: &mut Vec<(BufReader<File>, u64)>| -> io::Result<Option<u32>> {
                let (r, left) = &mut readers[i];
                if *left == 0 {
                    return Ok(None);
                }
                *left -= 1;
                let mut b = [0u8; 4];
                r.read_exact(&mut b)?;
                Ok(Some(u32::from_le_bytes(b)))
            };
        let mut heap = BinaryHeap::new();
        for i in 0..readers.len() {
            if let Some(c) = next(i, &mut readers)? {
                heap.push(Reverse((c, i)));
            }
        }
        let mut distinct = 0u64;
        let mut last = None;
        while let Some(Reverse((c, i))) = heap.pop() {
            if last != Some(c) {
                distinct += 1;
                last = Some(c);
            }
            if let Some(n) = next(i, &mut readers)? {
                heap.push(Reverse((n, i)));
            }
        }
        Ok(self.total - distinct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn naive(xs: &[u32]) -> u64 {
        xs.len() as u64 - xs.iter().collect::<HashSet<_>>().len() as u64
    }

    #[test]
    fn counts_repeats_in_memory() {
        let xs = [
            943_476_591,
            400_000_063,
            943_476_591,
            943_476_591,
            65_535,
            131_071,
            65_535,
        ];
        let mut seen = SeenNumbers::default();
        for &p in &xs {
            seen.insert(p).unwrap();
        }
        assert_eq!(seen.duplicates().unwrap(), 3);
    }

    #[test]
    fn permutations_are_bijections() {
        let p = Permutation::new();
        let mut b: Vec<u32> = (0..1u32 << 14).map(|x| p.bucket(x)).collect();
        assert!(b.iter().all(|&y| y < 1 << 14));
        b.sort_unstable();
        b.dedup();
        assert_eq!(b.len(), 1 << 14);
        let mut l: Vec<u16> = (0..=u16::MAX).map(|x| p.low(x)).collect();
        l.sort_unstable();
        l.dedup();
        assert_eq!(l.len(), 1 << 16);
        assert_ne!(
            (0..100).map(|x| p.low(x)).collect::<Vec<_>>(),
            (0..100).collect::<Vec<u16>>()
        );
    }

    /// At scale: a million numbers with many repeats, spilled in runs of
    /// 250,000, agree with the in-memory count.
    #[test]
    fn spilling_at_scale_agrees_with_memory() {
        let xs: Vec<u32> = (0..1_000_000u64)
            .map(|i| ((i * 2_654_435_761) % 800_000 * 1_249) as u32 % 1_000_000_000)
            .collect();
        let mut small = SeenNumbers::with_limit(250_000);
        let mut big = SeenNumbers::with_limit(usize::MAX);
        for &p in &xs {
            small.insert(p).unwrap();
            big.insert(p).unwrap();
        }
        let want = big.duplicates().unwrap();
        assert!(want > 150_000, "{want}");
        assert_eq!(small.duplicates().unwrap(), want);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Spilling (small limits force many runs) never changes the count,
        /// and both ways agree with a hash set.
        #[test]
        fn spilling_gives_the_same_count(
            xs in proptest::collection::vec(0u32..2_000, 0..300),
            limit in 3usize..60,
        ) {
            let xs: Vec<u32> = xs.iter().map(|x| x * 499_979 % 1_000_000_000).collect();
            let mut seen = SeenNumbers::with_limit(limit);
            let mut memory = SeenNumbers::default();
            for &p in &xs {
                seen.insert(p).unwrap();
                memory.insert(p).unwrap();
            }
            proptest::prop_assert_eq!(seen.duplicates().unwrap(), naive(&xs));
            proptest::prop_assert_eq!(memory.duplicates().unwrap(), naive(&xs));
        }
    }
}
