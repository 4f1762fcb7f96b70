//! The line fuzz target: `processor::differential::Target::Line` (the fast
//! readers and the general path must agree; no panic). Run it with
//! `cargo xtask fuzz --target line`.
#![no_main]

use processor::differential::Target;

libfuzzer_sys::fuzz_target!(
    init: {
        // `cargo xtask fuzz` names the corpus directory: a generated seed
        // corpus is written there when it is empty.
        if let Some(dir) = std::env::var_os("IRONMAN_FUZZ_SEEDS") {
            Target::Line
                .write_seeds(std::path::Path::new(&dir), 256)
                .expect("writing the seed corpus");
        }
    },
    |data: &[u8]| Target::Line.fuzz(data)
);
