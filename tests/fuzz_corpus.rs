//! Runs the fuzz targets under `cargo test`, without a fuzzer: every seed
//! and regression input in `fuzz/`, then deterministic mutations of the
//! seeds (bit flips, byte insertions and deletions, splices). A panic here
//! is a bug; `cargo fuzz run <target>` explores far more (see fuzz/README.md).

use std::path::Path;

use pseudolink::fuzz_targets;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 5] = [
    ("canonicaliser", fuzz_targets::canonicaliser),
    ("key_file", fuzz_targets::key_file),
    ("date", fuzz_targets::date),
    ("tokenise_run", fuzz_targets::tokenise_run),
    ("xlsx", fuzz_targets::xlsx),
];

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(dir)
            .join(target);
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            out.push(std::fs::read(f).unwrap());
        }
    }
    out
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = b"\"\r\n,;\t|.-E+ 09\xff\xef\xbb\xbf#";

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.remove(i);
            }
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(v.len() + 1);
                let from = rng.below(other.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            _ => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next() as u8);
            }
        }
    }
    v
}

#[test]
fn every_target_survives_its_corpus_and_mutations() {
    for (name, target) in TARGETS {
        let seeds = inputs(name);
        assert!(!seeds.is_empty(), "no seed corpus for {name}");
        for s in &seeds {
            target(s);
        }
        let mut rng = Rng(0xC0FFEE ^ name.len() as u64);
        for _ in 0..3000 {
            target(&mutate(&mut rng, &seeds));
        }
    }
}
