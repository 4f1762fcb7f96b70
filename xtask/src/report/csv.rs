//! `--format csv`: one file per table of the report, with a header row.

use super::model::Report;
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// One table: file name, header, rows.
pub type Table = (&'static str, Vec<&'static str>, Vec<Vec<String>>);

/// The report's tables.
pub fn tables(report: &Report) -> Vec<Table> {
    let ranked = |list: &[super::model::Ranked]| -> Vec<Vec<String>> {
        list.iter()
            .map(|r| vec![r.key.clone(), r.sessions.to_string()])
            .collect()
    };
    vec![
        (
            "days.csv",
            vec![
                "date",
                "unique_users",
                "sessions",
                "sessions_per_user",
                "avg_session_duration_seconds",
            ],
            report
                .days
                .iter()
                .map(|d| {
                    vec![
                        d.date.clone(),
                        d.unique_users.to_string(),
                        d.sessions.to_string(),
                        d.sessions_per_user.to_string(),
                        d.avg_session_duration_seconds.to_string(),
                    ]
                })
                .collect(),
        ),
        (
            "duration_distribution.csv",
            vec!["from_seconds", "to_seconds", "sessions"],
            report
                .duration_distribution
                .iter()
                .map(|b| {
                    vec![
                        b.from_seconds.to_string(),
                        b.to_seconds.map(|t| t.to_string()).unwrap_or_default(),
                        b.sessions.to_string(),
                    ]
                })
                .collect(),
        ),
        (
            "modules.csv",
            vec!["module", "sessions"],
            ranked(&report.modules),
        ),
        (
            "sites.csv",
            vec!["site_token", "sessions"],
            ranked(&report.sites),
        ),
        (
            "asset_types.csv",
            vec!["asset_type", "sessions"],
            ranked(&report.asset_types),
        ),
        (
            "totals.csv",
            vec![
                "from",
                "to",
                "timezone",
                "sessions",
                "unique_users",
                "events",
            ],
            vec![vec![
                report.from.clone(),
                report.to.clone(),
                report.timezone.clone(),
                report.totals.sessions.to_string(),
                report.totals.unique_users.to_string(),
                report.totals.events.to_string(),
            ]],
        ),
    ]
}

/// One table as CSV text (quoted where needed by the `csv` crate).
pub fn to_csv(header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(row)?;
    }
    let bytes = writer.into_inner().context("finishing CSV")?;
    Ok(String::from_utf8(bytes).expect("CSV of strings is UTF-8"))
}

/// Writes every table into `dir` (created); returns the paths.
pub fn write_all(report: &Report, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, header, rows) in tables(report) {
        let path = dir.join(name);
        std::fs::write(&path, to_csv(&header, &rows)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_commas_and_quotes_are_quoted() {
        let text = to_csv(
            &["module", "sessions"],
            &[vec!["Work \"Orders\", east".into(), "3".into()]],
        )
        .unwrap();
        assert_eq!(text, "module,sessions\n\"Work \"\"Orders\"\", east\",3\n");
    }
}
