//! `--format html`: one self-contained page — inline SVG charts drawn here
//! (no script libraries, no network), the tables, and a print stylesheet so
//! that printing to PDF gives the report people used to receive by mail.
//!
//! Each chart is an `<svg data-metric="<metric id>">` (ids from
//! `dashboards/metrics.yaml`), which the headless-browser test counts. A
//! tiny inline script records script errors and how many charts have a
//! non-empty layout box into `<html data-errors>` / `<body
//! data-charts-rendered>`, so a test reading the DOM sees both.
//!
//! Text speaks in the reader's units: durations as `38 min 58 s` or `1 h
//! 02 min` ([`duration`]), counts grouped as `12,345` ([`count`]); the
//! bars' `data-value` attributes keep the JSON's numbers.

use super::model::{Ranked, Report};
use crate::metrics::{MetricKind, Metrics};
use std::fmt::Write as _;

/// Bars shown in a ranked chart; the table below it lists every value.
const TOP: usize = 15;

/// Escapes text for HTML and SVG content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for `data-value` attributes (machine-readable, as in the
/// JSON): integers without a fraction, others with two decimals.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// A count for people: digits grouped by thousands, `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count held in an f64 (chart values), rounded to a whole number.
fn count_f(v: f64) -> String {
    count(v.max(0.0).round() as u64)
}

/// A ratio for people: two decimals.
fn decimal(v: f64) -> String {
    format!("{v:.2}")
}

/// A duration for people, from seconds: `45 s`, `38 min 58 s` (seconds
/// rounded), `1 h 02 min` from one hour (minutes rounded); `< 1 s` for a
/// positive duration that rounds to 0, `0 s` for none.
pub fn duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    let s = seconds.round() as u64;
    if s == 0 && seconds > 0.0 {
        "< 1 s".to_string()
    } else if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        let m = (s + 30) / 60;
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

/// A bound of a duration range in its largest whole unit: `(5, "min")`.
fn bound(seconds: u64) -> (u64, &'static str) {
    if seconds > 0 && seconds.is_multiple_of(3600) {
        (seconds / 3600, "h")
    } else if seconds > 0 && seconds.is_multiple_of(60) {
        (seconds / 60, "min")
    } else {
        (seconds, "s")
    }
}

/// A duration range `[from, to)` for people: `< 1 min`, `1–5 min`,
/// `30 min–1 h`, `≥ 1 h`.
pub fn duration_range(from: u64, to: Option<u64>) -> String {
    let (f, fu) = bound(from);
    match to {
        None => format!("≥ {f} {fu}"),
        Some(to) => {
            let (t, tu) = bound(to);
            if from == 0 {
                format!("< {t} {tu}")
            } else if fu == tu {
                format!("{f}–{t} {tu}")
            } else {
                format!("{f} {fu}–{t} {tu}")
            }
        }
    }
}

/// A vertical bar chart (one bar per label); `show` writes a value for
/// people (axis, bar labels, tooltips), `data-value` keeps the number.
fn columns(
    metric: &str,
    chart: &str,
    title: &str,
    labels: &[String],
    values: &[f64],
    show: fn(f64) -> String,
) -> String {
    let (w, h, left, bottom, top) = (680.0, 260.0, 52.0, 56.0, 28.0);
    let plot_w = w - left - 12.0;
    let plot_h = h - bottom - top;
    let max = values.iter().cloned().fold(0.0f64, f64::max);
    let scale = if max > 0.0 { plot_h / max } else { 0.0 };
    let n = labels.len().max(1) as f64;
    let slot = plot_w / n;
    let bar = (slot * 0.7).max(1.0);
    // Label every k-th bar so that long periods stay legible.
    let every = (labels.len() / 14).max(1);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" data-metric="{m}" data-chart="{c}" role="img" aria-label="{t}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        m = esc(metric),
        c = esc(chart),
        t = esc(title)
    );
    let _ = write!(
        svg,
        r##"<line x1="{left}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#444"/><line x1="{left}" y1="{top}" x2="{left}" y2="{y0}" stroke="#444"/><text x="{lx}" y="{y0}" class="axis" text-anchor="end">0</text><text x="{lx}" y="{ty}" class="axis" text-anchor="end">{mx}</text>"##,
        y0 = top + plot_h,
        x1 = w - 12.0,
        lx = left - 6.0,
        ty = top + 4.0,
        mx = esc(&show(max))
    );
    for (i, (label, value)) in labels.iter().zip(values).enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let bh = value * scale;
        let y = top + plot_h - bh;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}" data-label="{l}" data-value="{v}"><title>{l}: {shown}</title></rect>"#,
            l = esc(label),
            v = esc(&num(*value)),
            shown = esc(&show(*value))
        );
        if labels.len() <= 16 {
            let _ = write!(
                svg,
                r#"<text class="value" x="{cx:.1}" y="{vy:.1}" text-anchor="middle">{v}</text>"#,
                cx = x + bar / 2.0,
                vy = y - 4.0,
                v = esc(&show(*value))
            );
        }
        if i % every == 0 {
            let _ = write!(
                svg,
                r#"<text class="axis" x="{cx:.1}" y="{ly:.1}" text-anchor="end" transform="rotate(-35 {cx:.1} {ly:.1})">{l}</text>"#,
                cx = x + bar / 2.0,
                ly = top + plot_h + 14.0,
                l = esc(label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A horizontal bar chart of the top values of a ranked list.
fn ranked_bars(metric: &str, title: &str, list: &[Ranked]) -> String {
    let shown = &list[..list.len().min(TOP)];
    let (w, row, left, top) = (680.0, 22.0, 190.0, 8.0);
    let h = top * 2.0 + row * shown.len().max(1) as f64;
    let plot_w = w - left - 60.0;
    let max = shown.iter().map(|r| r.sessions).max().unwrap_or(0) as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" data-metric="{m}" data-chart="ranked" role="img" aria-label="{t}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        m = esc(metric),
        t = esc(title)
    );
    if shown.is_empty() {
        let _ = write!(
            svg,
            r#"<text class="axis" x="{left}" y="{y}">no sessions in this period</text>"#,
            y = top + 14.0
        );
    }
    for (i, r) in shown.iter().enumerate() {
        let y = top + row * i as f64;
        let bw = if max > 0.0 {
            r.sessions as f64 / max * plot_w
        } else {
            0.0
        };
        let label: String = if r.key.chars().count() > 28 {
            r.key.chars().take(27).chain(['…']).collect()
        } else {
            r.key.clone()
        };
        let _ = write!(
            svg,
            r#"<text class="axis" x="{lx}" y="{ty:.1}" text-anchor="end">{l}</text><rect class="bar" x="{left}" y="{by:.1}" width="{bw:.1}" height="{bh:.1}" data-label="{k}" data-value="{v}"><title>{k}: {shown}</title></rect><text class="value" x="{vx:.1}" y="{ty:.1}">{shown}</text>"#,
            lx = left - 8.0,
            ty = y + row * 0.68,
            by = y + 3.0,
            bh = row - 6.0,
            l = esc(&label),
            k = esc(&r.key),
            v = r.sessions,
            shown = count(r.sessions),
            vx = left + bw + 6.0
        );
    }
    svg.push_str("</svg>");
    svg
}

fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut html = String::from("<table><thead><tr>");
    for h in header {
        let _ = write!(html, "<th>{}</th>", esc(h));
    }
    html.push_str("</tr></thead><tbody>");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            let _ = write!(html, "<td>{}</td>", esc(&cell));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    html
}

const STYLE: &str = r#"
:root { --bar: #2f6db5; }
body { font-family: "Segoe UI", Helvetica, Arial, sans-serif; color: #1b1b1b; max-width: 760px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin: 28px 0 6px; border-bottom: 1px solid #ccc; padding-bottom: 3px; }
.sub { color: #555; margin-top: 0; }
.totals { display: flex; gap: 12px; margin: 16px 0; }
.totals div { flex: 1; border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; }
.totals b { display: block; font-size: 22px; }
svg.chart { width: 100%; height: auto; display: block; margin: 6px 0; }
svg .bar { fill: var(--bar); }
svg text { font-size: 11px; fill: #333; }
svg text.value { font-size: 10px; fill: #111; }
table { border-collapse: collapse; width: 100%; font-size: 12px; margin: 6px 0 10px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 3px 6px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.all-values { max-height: 180px; overflow-y: auto; border: 1px solid #eee; }
footer { color: #777; font-size: 11px; margin-top: 32px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  section { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; }
  .all-values { max-height: none; overflow: visible; border: none; }
  svg .bar { fill: #2f6db5; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// Records script errors and rendered charts into the DOM (see module doc).
const PROBE: &str = r#"
window.addEventListener('error', function (e) {
  var root = document.documentElement;
  root.setAttribute('data-errors', (root.getAttribute('data-errors') || '') + (e.message || 'error') + ';');
});
document.addEventListener('DOMContentLoaded', function () {
  var charts = document.querySelectorAll('svg[data-metric]');
  var rendered = 0;
  for (var i = 0; i < charts.length; i++) {
    var box = charts[i].getBoundingClientRect();
    if (box.width > 0 && box.height > 0 && charts[i].getBBox().width > 0) { rendered++; }
  }
  document.body.setAttribute('data-charts-rendered', String(rendered));
});
"#;

/// The whole page.
pub fn render(report: &Report, metrics: &Metrics) -> String {
    let dates: Vec<String> = report.days.iter().map(|d| d.date.clone()).collect();
    let mut body = String::new();
    let t = &report.totals;
    let _ = write!(
        body,
        r#"<h1>IronMan usage report</h1><p class="sub">{} to {} ({}) · exact counts from the session summaries</p><div class="totals"><div>Sessions<b>{}</b></div><div>Unique users<b>{}</b></div><div>Requests<b>{}</b></div></div>"#,
        esc(&report.from),
        esc(&report.to),
        esc(&report.timezone),
        count(t.sessions),
        count(t.unique_users),
        count(t.events)
    );
    for metric in &metrics.metrics {
        let id = metric.id.as_str();
        let _ = write!(
            body,
            r#"<section id="{}"><h2>{}</h2>"#,
            esc(id),
            esc(&metric.title)
        );
        match metric.kind {
            MetricKind::DistinctPerDay => {
                let v: Vec<f64> = report.days.iter().map(|d| d.unique_users as f64).collect();
                body.push_str(&columns(id, "per-day", &metric.title, &dates, &v, count_f));
            }
            MetricKind::RatioPerDay => {
                let v: Vec<f64> = report.days.iter().map(|d| d.sessions_per_user).collect();
                body.push_str(&columns(id, "per-day", &metric.title, &dates, &v, decimal));
                body.push_str(&table(
                    &["date", "sessions", "unique users", "sessions per user"],
                    report.days.iter().map(|d| {
                        vec![
                            d.date.clone(),
                            count(d.sessions),
                            count(d.unique_users),
                            format!("{:.2}", d.sessions_per_user),
                        ]
                    }),
                ));
            }
            MetricKind::Duration => {
                let avg: Vec<f64> = report
                    .days
                    .iter()
                    .map(|d| d.avg_session_duration_seconds)
                    .collect();
                body.push_str("<p class=\"sub\">Average per day</p>");
                body.push_str(&columns(
                    id,
                    "average",
                    "Average session duration",
                    &dates,
                    &avg,
                    duration,
                ));
                let labels: Vec<String> = report
                    .duration_distribution
                    .iter()
                    .map(|b| duration_range(b.from_seconds, b.to_seconds))
                    .collect();
                let counts: Vec<f64> = report
                    .duration_distribution
                    .iter()
                    .map(|b| b.sessions as f64)
                    .collect();
                body.push_str("<p class=\"sub\">Sessions per duration range, whole period</p>");
                body.push_str(&columns(
                    id,
                    "distribution",
                    "Sessions per duration range",
                    &labels,
                    &counts,
                    count_f,
                ));
            }
            MetricKind::SessionsPerValue => {
                let key = metric.report_key.as_deref().unwrap_or_default();
                let list = match key {
                    "modules" => &report.modules,
                    "sites" => &report.sites,
                    _ => &report.asset_types,
                };
                body.push_str(&ranked_bars(id, &metric.title, list));
                if list.len() > TOP {
                    // The whole list: scrollable on screen, in full on paper.
                    let _ = write!(
                        body,
                        "<p class=\"sub\">All {} values</p><div class=\"all-values\">{}</div>",
                        count(list.len() as u64),
                        table(
                            &[key, "sessions"],
                            list.iter().map(|r| vec![r.key.clone(), count(r.sessions)])
                        )
                    );
                }
            }
        }
        body.push_str("</section>");
    }
    let _ = write!(
        body,
        "<footer>Generated by <code>cargo xtask report</code>. A session counts on the day its first request happened in {}; durations run from its first to its last request.</footer>",
        esc(&report.timezone)
    );
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>IronMan usage report {} – {}</title><style>{STYLE}</style><script>{PROBE}</script></head><body>{body}</body></html>\n",
        esc(&report.from),
        esc(&report.to)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{Tally, assemble};
    use crate::report::period::Period;

    #[test]
    fn every_metric_has_a_chart_and_text_is_escaped() {
        let metrics = Metrics::load(&crate::project_root()).unwrap();
        let period = Period::new(
            "2026-11-02".parse().unwrap(),
            "2026-11-03".parse().unwrap(),
            "UTC",
        )
        .unwrap();
        let mut tally = Tally::default();
        tally
            .day_users
            .insert(("2026-11-02".into(), Some("u".into())), 2);
        tally.day_durations.insert(("2026-11-02".into(), 61_000), 2);
        tally
            .ranked
            .entry("modules".into())
            .or_default()
            .insert("<Work & \"Orders\">".into(), 2);
        let report = assemble(&period, &metrics.duration_ranges(), &tally).unwrap();
        let page = render(&report, &metrics);
        for m in &metrics.metrics {
            assert!(
                page.contains(&format!("data-metric=\"{}\"", m.id)),
                "{}",
                m.id
            );
        }
        assert!(page.contains("&lt;Work &amp; &quot;Orders&quot;&gt;"));
        assert!(!page.contains("<Work"));
        assert!(
            !page.contains("http://") || !page.contains("src=\"http"),
            "no network resources"
        );
        assert!(page.contains("@media print"));
    }

    #[test]
    fn durations_read_in_minutes_and_seconds() {
        assert_eq!(duration(0.0), "0 s");
        assert_eq!(duration(0.3), "< 1 s");
        assert_eq!(duration(45.0), "45 s");
        assert_eq!(duration(59.4), "59 s");
        assert_eq!(duration(59.5), "1 min 00 s");
        assert_eq!(duration(61.0), "1 min 01 s");
        assert_eq!(duration(2338.3), "38 min 58 s");
        assert_eq!(duration(3599.0), "59 min 59 s");
        assert_eq!(duration(3600.0), "1 h 00 min");
        assert_eq!(duration(3720.0), "1 h 02 min");
        assert_eq!(duration(3749.0), "1 h 02 min");
        assert_eq!(duration(3750.0), "1 h 03 min");
        assert_eq!(duration(26.0 * 3600.0 + 5.0 * 60.0), "26 h 05 min");
        assert_eq!(duration(-1.0), "0 s");
        assert_eq!(duration(f64::NAN), "0 s");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(12_345), "12,345");
        assert_eq!(count(123_456), "123,456");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(count_f(12_345.0), "12,345");
    }

    #[test]
    fn duration_ranges_read_in_their_units() {
        let metrics = Metrics::load(&crate::project_root()).unwrap();
        let labels: Vec<String> = metrics
            .duration_ranges()
            .iter()
            .map(|r| duration_range(r.from, r.to))
            .collect();
        assert_eq!(
            labels,
            [
                "< 1 min",
                "1–5 min",
                "5–15 min",
                "15–30 min",
                "30 min–1 h",
                "≥ 1 h"
            ]
        );
        assert_eq!(duration_range(90, Some(300)), "90 s–5 min");
        assert_eq!(duration_range(5400, None), "≥ 90 min");
        assert_eq!(duration_range(45, Some(75)), "45–75 s");
    }

    #[test]
    fn the_page_shows_durations_and_counts_for_people_and_keeps_numbers_in_data() {
        let metrics = Metrics::load(&crate::project_root()).unwrap();
        let period = Period::new(
            "2026-11-02".parse().unwrap(),
            "2026-11-02".parse().unwrap(),
            "UTC",
        )
        .unwrap();
        let mut tally = Tally::default();
        tally
            .day_users
            .insert(("2026-11-02".into(), Some("u".into())), 12_345);
        tally
            .day_durations
            .insert(("2026-11-02".into(), 2_338_300), 12_345);
        tally
            .ranked
            .entry("modules".into())
            .or_default()
            .insert("Work Orders".into(), 12_345);
        tally.events = 1_234_567;
        let report = assemble(&period, &metrics.duration_ranges(), &tally).unwrap();
        let page = render(&report, &metrics);
        // Totals, tables and bar labels.
        assert!(page.contains("Sessions<b>12,345</b>"), "{page}");
        assert!(page.contains("Requests<b>1,234,567</b>"), "{page}");
        assert!(page.contains("<td>12,345</td>"), "{page}");
        assert!(page.contains(">12,345</text>"), "{page}");
        // The average duration: axis, bar label and tooltip.
        assert!(page.contains(">38 min 58 s</text>"), "{page}");
        assert!(page.contains("2026-11-02: 38 min 58 s</title>"), "{page}");
        assert!(!page.contains(">2338.30<"), "{page}");
        assert!(page.contains(">30 min–1 h</text>"), "{page}");
        // data-value stays the number of the JSON.
        assert!(page.contains(r#"data-label="2026-11-02" data-value="2338.30""#));
        assert!(page.contains(r#"data-label="Work Orders" data-value="12345""#));
    }
}
