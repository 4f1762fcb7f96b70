//! Criterion micro-benchmarks of the hot path: one log line to a request
//! event, and one request event to its bulk lines. Whole-corpus throughput
//! is `cargo xtask bench`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use processor::config::Rules;
use processor::line::parse_record;
use processor::output::write_event_document;
use std::hint::black_box;

const LINES: [&str; 4] = [
    "2026-11-02T14:03:11.482Z\tINFO\t{\"type\":\"request\",\"timestamp\":\"2026-11-02T14:03:11.482Z\",\"sessionId\":\"8f14e45f-ceea-4\",\"user\":\"Alice.Moreau@ironman.com\",\"method\":\"get\",\"url\":\"/api/v2/sites/ST-0042/assets?assetType=Pump&assetType=valve%2Ctank&page=2\",\"status\":200,\"responseTimeMs\":41.7,\"userAgent\":\"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36\"}",
    "[2026-11-02 14:03:12,001] INFO {\"type\":\"page-beacon\",\"timestamp\":1793628192001,\"sessionId\":\"8f14e45f-ceea-4\",\"user\":\"alice.moreau@ironman.com\",\"url\":\"/work-orders\",\"module\":\"Work Orders\",\"status\":\"200\"}",
    "INFO {\"type\":\"request\",\"sessionId\":\"x\",\"user\":\"probe\",\"url\":\"/healthz\",\"userAgent\":\"kube-probe/1.29\"}",
    "java.lang.IllegalStateException: connection pool exhausted",
];

fn parse(c: &mut Criterion) {
    let rules = Rules::builtin();
    let mut group = c.benchmark_group("parse_record");
    group.throughput(Throughput::Elements(LINES.len() as u64));
    group.bench_function("mixed lines", |b| {
        b.iter(|| {
            for line in LINES {
                let _ = black_box(parse_record(black_box(line), 1_793_628_191_000, &rules));
            }
        })
    });
    group.finish();

    let event = parse_record(LINES[0], 0, &rules).expect("kept");
    let mut out = Vec::with_capacity(1024);
    c.bench_function("write_event_document", |b| {
        b.iter(|| {
            out.clear();
            write_event_document(
                &mut out,
                black_box(&event),
                "/ironman/app",
                "ecs/web/3f2c9a1b",
            );
            black_box(&out);
        })
    });
}

criterion_group!(benches, parse);
criterion_main!(benches);
