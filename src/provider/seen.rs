//! Counting duplicate NHS numbers exactly, in bounded memory.
//!
//! A valid number is fixed by its first nine digits (below 10^9, 30 bits).
//! [`SeenNumbers`] keeps two bytes per number: the top 14 bits pick one of
//! 16,384 buckets and the low 16 bits are stored in it. Duplicates are
//! counted at the end, bucket by bucket, by marking the low parts in a
//! 65,536-bit map (8 KiB, in cache): a value whose bit is already set is a
//! repeat. That covers any realistic referral file (10 million rows take
//! about 20 MiB).
//!
//! Numbers arrive in random order, and writing each straight into one of
//! 16,384 buckets missed the cache almost every time. So they are first
//! staged: appended to one of 128 small buffers (by the top seven bits of
//! their bucket), and a full buffer is moved into its 128 neighbouring
//! buckets in one go, which stays in cache.
//!
//! Past [`DEFAULT_LIMIT`] numbers held, the buckets are spilled to an
//! unnamed temporary file as one run, bucket after bucket, and emptied; the
//! count of each bucket in each run stays in memory (64 KiB a run). At the
//! end every bucket is read back from every run in turn and marked in the
//! same bit map, so each run is read once, front to back, and memory stays
//! bounded whatever the input size. Nothing identifying reaches the disk:
//! the buckets are written in a random order and the low parts are put
//! through a random permutation, both drawn from the operating system for
//! this run and held only in memory, so the file is meaningless without
//! them, yet distinct numbers stay distinct.

use std::fs::File;
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

/// Random bijections on the 14-bit bucket numbers and the 16-bit low parts,
/// drawn from the operating system for this run and never stored.
struct Permutation {
    /// Bucket numbers in the order they are written.
    order: Vec<u16>,
    /// The permuted value of each low part.
    low: Vec<u16>,
}

impl Permutation {
    fn new() -> io::Result<Permutation> {
        Ok(Permutation {
            order: shuffled(BUCKETS)?,
            low: shuffled(1 << 16)?,
        })
    }
}

/// `0..n` (n ≤ 65,536) in a uniformly random order (Fisher–Yates; the
/// modulo bias is below 2^-15).
fn shuffled(n: usize) -> io::Result<Vec<u16>> {
    let mut random = vec![0u8; 4 * n];
    getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
    let mut p: Vec<u16> = (0..n).map(|i| i as u16).collect();
    for i in (1..n).rev() {
        let r = u32::from_le_bytes([
            random[4 * i],
            random[4 * i + 1],
            random[4 * i + 2],
            random[4 * i + 3],
        ]);
        p.swap(i, r as usize % (i + 1));
    }
    Ok(p)
}

/// One spilled run: the buckets' permuted low parts, two bytes each, in
/// the permutation's bucket order, and how many each bucket wrote.
struct Run {
    file: BufReader<File>,
    counts: Vec<u32>,
}

/// Marks 16-bit values in a 65,536-bit map and counts the repeats.
struct BitMap(Vec<u64>);

impl BitMap {
    fn new() -> BitMap {
        BitMap(vec![0; 1 << 10])
    }

    /// Marks the values; returns how many were already marked.
    fn mark(&mut self, values: &[u16]) -> u64 {
        let mut repeats = 0;
        for &x in values {
            let (word, bit) = (usize::from(x >> 6), 1u64 << (x & 63));
            repeats += u64::from(self.0[word] & bit != 0);
            self.0[word] |= bit;
        }
        repeats
    }

    /// Clears the marks of these values (cheaper than clearing 8 KiB).
    fn unmark(&mut self, values: &[u16]) {
        for &x in values {
            self.0[usize::from(x >> 6)] = 0;
        }
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
    perm: Option<Permutation>,
    runs: Vec<Run>,
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
            perm: None,
            runs: Vec::new(),
        }
    }

    /// Records the prefix of a valid number (see
    /// [`crate::provider::nhs::NhsNumber::prefix`]).
    pub fn insert(&mut self, prefix: u32) -> io::Result<()> {
        let s = bucket_of(prefix) / (BUCKETS / STAGES);
        let len = self.stage_len[s];
        self.stage[s * STAGE_CAP + len] = prefix;
        self.stage_len[s] = len + 1;
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

    /// Writes the held numbers as one run and empties the buckets (keeping
    /// their allocations).
    fn spill(&mut self) -> io::Result<()> {
        if self.perm.is_none() {
            self.perm = Some(Permutation::new()?);
        }
        let Some(perm) = &self.perm else {
            unreachable!("set above")
        };
        let mut file = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
        let mut counts = Vec::with_capacity(BUCKETS);
        let mut bytes = Vec::new();
        for &b in &perm.order {
            let bucket = &mut self.buckets[usize::from(b)];
            counts.push(bucket.len() as u32);
            bytes.clear();
            bytes.extend(
                bucket
                    .iter()
                    .flat_map(|&x| perm.low[usize::from(x)].to_le_bytes()),
            );
            file.write_all(&bytes)?;
            bucket.clear();
        }
        let mut file = file.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        self.runs.push(Run {
            file: BufReader::with_capacity(1 << 16, file),
            counts,
        });
        self.held = 0;
        Ok(())
    }

    /// Rows whose number appeared on an earlier row: numbers seen minus
    /// distinct numbers.
    pub fn duplicates(mut self) -> io::Result<u64> {
        for s in 0..STAGES {
            self.unstage(s)?;
        }
        let mut map = BitMap::new();
        let mut dups = 0u64;
        if self.runs.is_empty() {
            for b in &mut self.buckets {
                dups += map.mark(b);
                map.unmark(b);
                *b = Vec::new();
            }
            return Ok(dups);
        }
        if self.held > 0 {
            self.spill()?;
        }
        self.buckets = Vec::new();
        // Bucket by bucket, in the order written, across all runs. Low parts
        // are all permuted alike, so repeats stay repeats.
        let mut values: Vec<u16> = Vec::new();
        let mut bytes = Vec::new();
        for i in 0..BUCKETS {
            values.clear();
            for run in self.runs.iter_mut().filter(|r| r.counts[i] > 0) {
                bytes.resize(run.counts[i] as usize * 2, 0);
                run.file.read_exact(&mut bytes)?;
                values.extend(
                    bytes
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]])),
                );
            }
            dups += map.mark(&values);
            map.unmark(&values);
        }
        Ok(dups)
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
    fn permutations_are_random_bijections() {
        let p = Permutation::new().unwrap();
        let mut b = p.order.clone();
        b.sort_unstable();
        assert_eq!(b, (0..BUCKETS as u16).collect::<Vec<_>>());
        assert_ne!(p.order[..100], b[..100]);
        let mut l = p.low.clone();
        l.sort_unstable();
        assert_eq!(l, (0..=u16::MAX).collect::<Vec<_>>());
        assert_ne!(p.low[..100], l[..100]);
        assert_ne!(p.low, Permutation::new().unwrap().low);
    }

    /// The spilled file holds two bytes per number, and the low parts are
    /// not written in the clear.
    #[test]
    fn spilled_runs_are_permuted() {
        // All in two neighbouring buckets, so one staging buffer: the run
        // is spilled when it is first moved into the buckets.
        let mut seen = SeenNumbers::with_limit(STAGE_CAP);
        for i in 0..1_000u32 {
            seen.insert(123_000_000 + i * 7).unwrap();
        }
        assert_eq!(seen.runs.len(), 1);
        let run = &mut seen.runs[0];
        assert_eq!(run.counts.iter().sum::<u32>(), STAGE_CAP as u32);
        let mut bytes = Vec::new();
        run.file.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len(), 2 * STAGE_CAP);
        let clear: Vec<u16> = (0..1_000u32)
            .map(|i| (123_000_000 + i * 7) as u16)
            .collect();
        let written: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let clear: HashSet<u16> = clear.into_iter().collect();
        // By chance about 15 of the permuted values fall in the set.
        let same = written.iter().filter(|x| clear.contains(x)).count();
        assert!(same < 100, "{same} of 1,000 low parts written in the clear");
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
