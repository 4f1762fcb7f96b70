//! Property tests: generated lines and batch documents, each read by the
//! fast readers and by the general path, which must agree (same batch,
//! same record or skip reason, same error class) and never panic.
//!
//! Deterministic: case `i` is generated from the seed `base + i`, with
//! `base` from `DIFFERENTIAL_SEED` (a fixed default). A failure prints its
//! case's seed, the input, and a smaller input that still fails (found by
//! cutting the input down); `DIFFERENTIAL_SEED=<seed> DIFFERENTIAL_CASES=1`
//! replays that case alone, and a larger `DIFFERENTIAL_CASES` explores
//! further.

use super::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

const DEFAULT_SEED: u64 = 0x1d1f_f00d;

fn base_seed() -> u64 {
    std::env::var("DIFFERENTIAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

fn cases(default: u64) -> u64 {
    std::env::var("DIFFERENTIAL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The check's verdict on `input`, a panic being a failure too.
fn verdict(check: &dyn Fn(&[u8]) -> Result<Taken, String>, input: &[u8]) -> Result<Taken, String> {
    match catch_unwind(AssertUnwindSafe(|| check(input))) {
        Ok(result) => result,
        Err(panic) => Err(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(not a string)")
        )),
    }
}

/// A smaller input on which `check` still fails: the shortest failing
/// prefix, then chunks of halving length cut out while it still fails
/// (a bounded number of tries).
fn shrink(input: &[u8], check: &dyn Fn(&[u8]) -> Result<Taken, String>) -> Vec<u8> {
    let mut tries = 0;
    let mut fails = |candidate: &[u8]| {
        tries += 1;
        tries < 4_000 && verdict(check, candidate).is_err()
    };
    let mut best = input.to_vec();
    if let Some(end) = (0..best.len()).find(|&end| fails(&best[..end])) {
        best.truncate(end);
    }
    let mut chunk = best.len().div_ceil(2);
    while chunk >= 1 {
        let mut start = 0;
        while start + chunk <= best.len() {
            let mut candidate = best.clone();
            candidate.drain(start..start + chunk);
            if fails(&candidate) {
                best = candidate;
            } else {
                start += chunk;
            }
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    best
}

fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!(
            "{bytes:?} (not UTF-8; lossily: {:?})",
            String::from_utf8_lossy(bytes)
        ),
    }
}

/// Fails the test with what reproduces the failure.
fn fail(what: &str, seed: u64, input: &[u8], check: &dyn Fn(&[u8]) -> Result<Taken, String>) -> ! {
    let error = verdict(check, input).expect_err("a failing input");
    let minimal = shrink(input, check);
    let minimal_error = verdict(check, &minimal).err().unwrap_or_default();
    panic!(
        "{what}: the fast path and the general path disagree (case seed {seed}):\n{error}\n\
         input: {}\n\
         smaller input that fails: {}\n  {minimal_error}\n\
         replay: DIFFERENTIAL_SEED={seed} DIFFERENTIAL_CASES=1 cargo test -p processor --lib differential",
        show(input),
        show(&minimal),
    );
}

/// Runs `check` on `count` generated inputs (and, for one in `prefixes`,
/// on every prefix of it), and sums what they took.
fn run(
    what: &str,
    count: u64,
    prefixes: u64,
    generate: impl Fn(&mut Gen) -> Vec<u8>,
    check: &dyn Fn(&[u8]) -> Result<Taken, String>,
) -> Vec<Taken> {
    let base = base_seed();
    let mut all = Vec::new();
    for i in 0..cases(count) {
        let seed = base.wrapping_add(i);
        let input = generate(&mut Gen::new(seed));
        match verdict(check, &input) {
            Ok(taken) => all.push(taken),
            Err(_) => fail(what, seed, &input, check),
        }
        if i % prefixes == prefixes - 1 {
            for end in 0..input.len() {
                if verdict(check, &input[..end]).is_err() {
                    fail(what, seed, &input[..end], check);
                }
            }
        }
    }
    all
}

#[test]
fn generated_lines_agree() {
    let line = |data: &[u8]| check_line_input(data, rules());
    let taken = run("line", 3_000, 60, |g| g.line().into_bytes(), &line);
    let count = |f: fn(&Taken) -> bool| taken.iter().filter(|t| f(t)).count();
    let (fast, escaped, kept) = (
        count(|t| t.line_fast),
        count(|t| t.escaped_fast),
        count(|t| t.kept > 0),
    );
    eprintln!(
        "lines: fast {fast} escaped {escaped} kept {kept} valid {}",
        count(|t| t.batch_valid)
    );
    // The generator must reach the fast readers and the contract's end.
    if cases(0) == 0 {
        assert!(fast > 1_500, "fastrecord read {fast} lines");
        assert!(escaped > 1_300, "read in place: {escaped} lines");
        assert!(kept > 300, "kept: {kept} lines");
    }
}

#[test]
fn generated_documents_agree() {
    let document = |data: &[u8]| check_document(data, rules());
    let taken = run("document", 1_500, 40, |g| g.document(), &document);
    let (fast, valid, in_place, kept) = (
        taken.iter().filter(|t| t.batch_fast).count(),
        taken.iter().filter(|t| t.batch_valid).count(),
        taken.iter().map(|t| t.lines_in_place).sum::<usize>(),
        taken.iter().map(|t| t.kept).sum::<usize>(),
    );
    eprintln!("docs: fast {fast} valid {valid} in_place {in_place} kept {kept}");
    if cases(0) == 0 {
        assert!(valid > 900, "{valid} valid documents");
        assert!(fast * 10 > valid * 7, "fastbatch read {fast} of {valid}");
        assert!(in_place > 500, "{in_place} lines read in place");
        assert!(kept > 350, "{kept} events kept");
    }
}

#[test]
fn generated_payloads_agree() {
    // Whole payloads (gzip, base64), as the envelope fuzz target takes
    // them: documents, in one gzip member and in two, and gzip streams.
    let envelope = |data: &[u8]| check_envelope_input(data, rules());
    run(
        "payload",
        300,
        u64::MAX,
        |g| {
            let doc = g.document();
            match g.below(4) {
                0 => gzip_members(&doc, &[doc.len() / 3]),
                _ => doc,
            }
        },
        &envelope,
    );
}

/// Every input the fuzzer found is kept in `processor/fuzz/regressions/`
/// (one directory per target) and replayed here.
#[test]
fn fuzz_regressions_replay() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    for target in Target::ALL {
        let dir = root.join(target.name());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for file in files.iter().filter(|f| f.is_file()) {
            let data = std::fs::read(file).expect("reading a regression input");
            if let Err(e) = verdict(&|d| target.check(d), &data) {
                panic!("{}: {e}", file.display());
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no regression input under {}", root.display());
}

#[test]
fn the_seed_corpus_is_valid_for_each_target() {
    for target in Target::ALL {
        for seed in target.seeds(64) {
            if let Err(e) = verdict(&|d| target.check(d), &seed) {
                panic!("{} seed {}: {e}", target.name(), show(&seed));
            }
        }
    }
}

#[test]
fn the_shrinker_finds_a_small_failing_input() {
    // A stand-in check that fails on any input holding `\uD800`.
    let check = |data: &[u8]| {
        if memchr::memmem::find(data, b"\\uD800").is_some() {
            Err("found".to_string())
        } else {
            Ok(Taken::default())
        }
    };
    let input = br#"{"type":"request","user":"a\uD800b","url":"/x"}"#;
    assert_eq!(shrink(input, &check), b"\\uD800");
}
