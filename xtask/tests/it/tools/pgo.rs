//! `cargo xtask pgo` trains a profile of the processor's hot code.
//!
//! Needs llvm-profdata from LLVM 19 or newer (`.ci/run` installs llvm-19);
//! fails, never skips, without it. The instrumented build compiles the
//! processor's dependencies once into target/pgo/build (minutes on 2 CPUs).

use std::process::Command;
use xtask::pgo::{PgoArgs, llvm_profdata};

#[test]
fn training_writes_a_profile_of_the_line_readers() {
    let root = xtask::project_root();
    let out = root.join("target/pgo-test/processor.profdata");
    let stamp = xtask::pgo::sources_stamp(&out);
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&stamp);
    xtask::pgo::run(
        &root,
        PgoArgs {
            out: Some(out.clone()),
            events: 5_000,
            seed: 3,
        },
    )
    .unwrap_or_else(|e| panic!("cargo xtask pgo failed: {e:#}"));

    // Read back by llvm-profdata, not by our code: the hottest functions
    // of the training run are the processor's readers.
    let profdata = llvm_profdata().expect("llvm-profdata (LLVM 19+)");
    let shown = Command::new(&profdata.path)
        .args(["show", "--topn=40"])
        .arg(&out)
        .output()
        .expect("running llvm-profdata show");
    assert!(shown.status.success(), "{shown:?}");
    let text = String::from_utf8_lossy(&shown.stdout);
    for hot in ["fastrecord", "parse_reading", "from_raw", "inflate"] {
        assert!(
            text.contains(hot),
            "{hot} is not among the profile's hottest functions:\n{text}"
        );
    }
    let total: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Total functions: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("a function count");
    assert!(total > 100, "only {total} functions profiled:\n{text}");

    // Beside it, the digests of the sources it describes (what the unit
    // test of the committed profile compares with the checkout).
    let written = std::fs::read_to_string(&stamp).expect("the sources stamp beside the profile");
    assert_eq!(written, xtask::pgo::sources_manifest(&root).unwrap());
}
