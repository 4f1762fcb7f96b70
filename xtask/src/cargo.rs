//! Starting cargo (and cargo-lambda) from xtask, which `cargo run` started.
//!
//! `cargo run` and `cargo test` give the program they start variables that
//! describe that program's package (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`,
//! ...). A cargo started from there would see them too, and build scripts
//! that track one of them (ring's tracks `CARGO_MANIFEST_DIR`) would count
//! as changed: ring, rustls and the whole AWS SDK above them were compiled
//! once for `cargo build` and again for the `cargo test` that
//! `cargo xtask test` starts, and back again on the next build.

use std::ffi::OsString;
use std::process::Command;

/// `cargo`, the one that started us when there is one.
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    clean_env(&mut cmd);
    cmd
}

/// Removes what `cargo run` / `cargo test` set for the running package.
pub fn clean_env(cmd: &mut Command) -> &mut Command {
    for name in inherited_package_vars(std::env::vars_os().map(|(name, _)| name)) {
        cmd.env_remove(name);
    }
    cmd
}

fn inherited_package_vars(names: impl Iterator<Item = OsString>) -> Vec<OsString> {
    const EXACT: [&str; 6] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
    ];
    names
        .filter(|name| {
            let name = name.to_string_lossy();
            EXACT.contains(&name.as_ref())
                || name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_BIN_EXE_")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::inherited_package_vars;
    use std::ffi::OsString;

    #[test]
    fn removes_the_package_variables_and_keeps_cargos_settings() {
        let names = [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_INCREMENTAL",
            "CARGO_PROFILE_DEV_DEBUG",
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_EXE_xtask",
            "PATH",
        ];
        let removed = inherited_package_vars(names.iter().map(Into::into));
        assert_eq!(
            removed,
            [
                "CARGO_MANIFEST_DIR",
                "CARGO_PKG_NAME",
                "CARGO_PKG_VERSION_MAJOR",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_EXE_xtask"
            ]
            .map(OsString::from)
        );
    }

    #[test]
    fn a_cargo_command_carries_none_of_them() {
        // This test binary runs under `cargo test`, which set them.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        let cmd = super::cargo();
        let removed: Vec<_> = cmd
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        assert!(
            removed.contains(&"CARGO_MANIFEST_DIR".to_string()),
            "{removed:?}"
        );
        assert!(
            removed.contains(&"CARGO_PKG_NAME".to_string()),
            "{removed:?}"
        );
    }
}
