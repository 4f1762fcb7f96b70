//! Random draws. Every choice goes through the one seeded generator, in a
//! fixed order, so a seed always gives the same corpus.

use super::Gen;
use rand::Rng;

/// Dimensions of representation choices, cycled through before weighting.
pub(super) mod dim {
    pub const PREFIX: usize = 0;
    pub const TRAILER: usize = 1;
    pub const TYPE_REQUEST: usize = 2;
    pub const TYPE_BEACON: usize = 3;
    pub const TS: usize = 4;
    pub const SESSION_WS: usize = 5;
    pub const USER: usize = 6;
    pub const METHOD: usize = 7;
    pub const BEACON_METHOD: usize = 8;
    pub const STATUS: usize = 9;
    pub const RT: usize = 10;
    pub const BEACON_RT: usize = 11;
    pub const REQUEST_MODULE: usize = 12;
    pub const BEACON_MODULE: usize = 13;
    pub const SITE: usize = 14;
    pub const SITE_KEY_WS: usize = 15;
    pub const ASSETS: usize = 16;
    pub const FRAGMENT: usize = 17;
    pub const UNICODE: usize = 18;
    pub const LONG_UA: usize = 19;
    pub const LONG_QUERY: usize = 20;
    pub const BACKGROUND: usize = 21;
    pub const COUNT: usize = 22;
}

impl Gen<'_> {
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            self.rng.random_range(lo..hi)
        }
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub(super) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut r = self.rng.random_range(0..total);
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    }

    /// A variant of dimension `d`: the first uses cycle through every
    /// variant (so each appears in any corpus), later ones follow `weights`.
    pub(super) fn choose(&mut self, d: usize, weights: &[u32]) -> usize {
        let used = self.cover[d] as usize;
        if used < weights.len() {
            self.cover[d] += 1;
            return used;
        }
        self.weighted(weights)
    }

    pub(super) fn poisson(&mut self, lambda: f64) -> u32 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda < 30.0 {
            let limit = (-lambda).exp();
            let mut k = 0;
            let mut p: f64 = self.rng.random();
            while p > limit {
                k += 1;
                p *= self.rng.random::<f64>();
            }
            k
        } else {
            let u1: f64 = self.rng.random::<f64>().max(1e-12);
            let u2: f64 = self.rng.random();
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            (lambda + z * lambda.sqrt()).round().max(0.0) as u32
        }
    }

    pub(super) fn uuid(&mut self) -> String {
        let (a, b): (u64, u64) = (self.rng.random(), self.rng.random());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            8 + (b >> 62),
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }
}
