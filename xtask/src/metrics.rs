//! `dashboards/metrics.yaml`: the report's metrics, declared once. The
//! report ([`crate::report`]) builds its queries from these declarations and
//! the Dashboards visualizations ([`crate::dashboards`]) are rendered from
//! them, so the two cannot drift apart.

use crate::env::display_path;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file, relative to the workspace root.
pub const METRICS_FILE: &str = "dashboards/metrics.yaml";

/// The ranked lists of the report, in output order.
pub const RANKED_KEYS: [&str; 3] = ["modules", "sites", "asset_types"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// The date field whose calendar day (in the report's zone) a session
    /// counts on.
    pub day_field: String,
    /// Summed over the period's sessions for `totals.events`.
    pub events_field: String,
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// Stable id: the visualization's saved-object id derives from it.
    pub id: String,
    pub title: String,
    pub kind: MetricKind,
    /// The session-summaries field the metric reads.
    pub field: String,
    /// `duration` only: lower bounds of the ranges, ascending; the last
    /// range is open.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bounds: Vec<u64>,
    /// `sessions_per_value` only: the report's list (`modules`, `sites`,
    /// `asset_types`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Distinct values of `field` per day.
    DistinctPerDay,
    /// Sessions per day divided by distinct values of `field` that day.
    RatioPerDay,
    /// Mean of `field` per day and sessions per range over the period.
    Duration,
    /// Over the period, sessions whose `field` set contains each value.
    SessionsPerValue,
}

/// One range of the duration distribution: `[from, to)`, `to` None = open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: u64,
    pub to: Option<u64>,
}

impl Metrics {
    /// Reads and checks `dashboards/metrics.yaml`.
    pub fn load(root: &Path) -> anyhow::Result<Metrics> {
        let path = root.join(METRICS_FILE);
        let shown = display_path(root, &path);
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {shown}"))?;
        Self::from_yaml(&text, &shown)
    }

    pub fn from_yaml(text: &str, origin: &str) -> anyhow::Result<Metrics> {
        let metrics: Metrics =
            serde_yaml_ng::from_str(text).with_context(|| format!("{origin}: not valid"))?;
        metrics
            .check()
            .map_err(|message| anyhow::anyhow!("{origin}: {message}"))?;
        Ok(metrics)
    }

    /// What the report needs: one metric of each per-day kind and a
    /// duration, and one `sessions_per_value` per ranked list.
    fn check(&self) -> Result<(), String> {
        let mut ids = std::collections::BTreeSet::new();
        for (i, m) in self.metrics.iter().enumerate() {
            let at = format!("field `metrics[{i}]`");
            if m.id.is_empty()
                || !m
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(format!(
                    "{at}.id: expected lowercase letters, digits and `-`, got `{}`",
                    m.id
                ));
            }
            if !ids.insert(m.id.as_str()) {
                return Err(format!("{at}.id: `{}` is declared twice", m.id));
            }
            if m.kind == MetricKind::Duration {
                if m.bounds.first() != Some(&0) || !m.bounds.windows(2).all(|w| w[0] < w[1]) {
                    return Err(format!(
                        "{at}.bounds: expected ascending bounds starting at 0, got {:?}",
                        m.bounds
                    ));
                }
            } else if !m.bounds.is_empty() {
                return Err(format!("{at}.bounds: only a `duration` metric has bounds"));
            }
            match (&m.kind, &m.report_key) {
                (MetricKind::SessionsPerValue, Some(key))
                    if RANKED_KEYS.contains(&key.as_str()) => {}
                (MetricKind::SessionsPerValue, key) => {
                    return Err(format!(
                        "{at}.report_key: expected one of {RANKED_KEYS:?}, got {key:?}"
                    ));
                }
                (_, Some(_)) => {
                    return Err(format!(
                        "{at}.report_key: only a `sessions_per_value` metric has one"
                    ));
                }
                _ => {}
            }
        }
        for kind in [
            MetricKind::DistinctPerDay,
            MetricKind::RatioPerDay,
            MetricKind::Duration,
        ] {
            let n = self.metrics.iter().filter(|m| m.kind == kind).count();
            if n != 1 {
                return Err(format!(
                    "field `metrics`: expected exactly one metric of kind `{}`, found {n}",
                    serde_json::to_value(kind).expect("serializes")
                ));
            }
        }
        if self.distinct().field != self.one(MetricKind::RatioPerDay).field {
            return Err(
                "field `metrics`: the `ratio_per_day` metric must count the same field as `distinct_per_day`"
                    .into(),
            );
        }
        for key in RANKED_KEYS {
            let n = self
                .metrics
                .iter()
                .filter(|m| m.report_key.as_deref() == Some(key))
                .count();
            if n != 1 {
                return Err(format!(
                    "field `metrics`: expected exactly one metric with report_key `{key}`, found {n}"
                ));
            }
        }
        Ok(())
    }

    fn one(&self, kind: MetricKind) -> &Metric {
        self.metrics
            .iter()
            .find(|m| m.kind == kind)
            .expect("checked on load")
    }

    /// The per-day distinct count (unique users).
    pub fn distinct(&self) -> &Metric {
        self.one(MetricKind::DistinctPerDay)
    }

    /// The duration metric.
    pub fn duration(&self) -> &Metric {
        self.one(MetricKind::Duration)
    }

    /// The metric behind the ranked list `key` (`modules`, `sites`, `asset_types`).
    pub fn ranked(&self, key: &str) -> &Metric {
        self.metrics
            .iter()
            .find(|m| m.report_key.as_deref() == Some(key))
            .expect("checked on load")
    }

    /// The duration ranges, the last one open.
    pub fn duration_ranges(&self) -> Vec<Range> {
        let bounds = &self.duration().bounds;
        bounds
            .iter()
            .enumerate()
            .map(|(i, &from)| Range {
                from,
                to: bounds.get(i + 1).copied(),
            })
            .collect()
    }

    /// Every session-summaries field a metric reads (for the mapping checks).
    pub fn fields(&self) -> Vec<&str> {
        let mut fields: Vec<&str> = self.metrics.iter().map(|m| m.field.as_str()).collect();
        fields.push(&self.day_field);
        fields.push(&self.events_field);
        fields.sort_unstable();
        fields.dedup();
        fields
    }
}

impl Range {
    /// Whether `seconds` lies in `[from, to)`.
    pub fn contains(&self, seconds: f64) -> bool {
        seconds >= self.from as f64 && self.to.is_none_or(|to| seconds < to as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Metrics {
        Metrics::load(&crate::project_root()).expect("dashboards/metrics.yaml loads")
    }

    #[test]
    fn the_shipped_declarations_cover_the_report() {
        let m = shipped();
        assert_eq!(m.distinct().field, "user");
        assert_eq!(m.ranked("modules").field, "modules");
        assert_eq!(m.ranked("sites").field, "siteTokens");
        assert_eq!(m.ranked("asset_types").field, "assetTypes");
        let ranges = m.duration_ranges();
        assert_eq!(
            ranges.first(),
            Some(&Range {
                from: 0,
                to: Some(60)
            })
        );
        assert_eq!(
            ranges.last(),
            Some(&Range {
                from: 3600,
                to: None
            })
        );
        assert_eq!(ranges.len(), 6);
    }

    #[test]
    fn range_bounds_are_half_open() {
        let r = Range {
            from: 60,
            to: Some(300),
        };
        assert!(!r.contains(59.999));
        assert!(r.contains(60.0));
        assert!(r.contains(299.999));
        assert!(!r.contains(300.0));
        let open = Range {
            from: 3600,
            to: None,
        };
        assert!(open.contains(3600.0) && open.contains(1e9) && !open.contains(3599.999));
    }

    #[test]
    fn broken_declarations_name_the_field() {
        let text = std::fs::read_to_string(crate::project_root().join(METRICS_FILE)).unwrap();
        let cases = [
            ("bounds: [0, 60,", "bounds: [5, 60,", "metrics[2]`.bounds"),
            (
                "report_key: sites",
                "report_key: site",
                "metrics[4]`.report_key",
            ),
            (
                "kind: ratio_per_day",
                "kind: distinct_per_day",
                "exactly one metric of kind",
            ),
            ("id: sessions-per-site", "id: Sessions", "metrics[4]`.id"),
        ];
        for (from, to, expected) in cases {
            assert!(text.contains(from), "{from}");
            let err = Metrics::from_yaml(&text.replacen(from, to, 1), METRICS_FILE)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(METRICS_FILE), "{err}");
            assert!(err.contains(expected), "{to}: {err}");
        }
    }
}
