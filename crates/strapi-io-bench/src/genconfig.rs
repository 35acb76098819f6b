//! `strapi-io-bench config`: derives a server config from `bench/configs/bench.toml` (or any
//! config in its layout) with other heartbeat settings and extra read-only API tokens (more
//! audiences), editing the text line by line so comments and layout stay, and making
//! `strapi.projectDir` absolute so the result works from any directory. Both the gateway and
//! the Node reference read the result.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::audience::{extra_token_name, extra_token_plain};

/// What to change.
#[derive(Debug, Clone, Default)]
pub struct ConfigEdit {
    /// The config to start from.
    pub base: PathBuf,
    /// New `settings.connection.pingInterval`, ms.
    pub ping_interval: Option<u64>,
    /// New `settings.connection.pingTimeout`, ms.
    pub ping_timeout: Option<u64>,
    /// Read-only API tokens `bench-extra-1` … `bench-extra-N` to add.
    pub extra_tokens: u16,
    /// `settings.connection.recovery.maxDisconnectionDuration`, ms (0 = recovery off),
    /// written as a `[settings.connection.recovery]` table at the end.
    pub recovery_max_disconnection: Option<u64>,
}

/// The edited config text.
pub fn generate(edit: &ConfigEdit) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(&edit.base)
        .with_context(|| format!("reading {}", edit.base.display()))?;
    let base_dir = edit
        .base
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let base_dir = if base_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base_dir
    };
    let mut out = String::with_capacity(text.len() + 256 * edit.extra_tokens as usize);
    let (mut saw_interval, mut saw_timeout) = (false, false);
    let mut salt = None;
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        let value = line.split_once('=').map(|(_, v)| v.trim());
        match (key, value) {
            ("pingInterval", Some(_)) if edit.ping_interval.is_some() => {
                saw_interval = true;
                out.push_str(&format!(
                    "pingInterval = {}\n",
                    edit.ping_interval.unwrap_or(0)
                ));
            }
            ("pingTimeout", Some(_)) if edit.ping_timeout.is_some() => {
                saw_timeout = true;
                out.push_str(&format!(
                    "pingTimeout = {}\n",
                    edit.ping_timeout.unwrap_or(0)
                ));
            }
            ("projectDir", Some(v)) => {
                let dir = v.trim_matches('"');
                let abs = base_dir.join(dir).canonicalize().with_context(|| {
                    format!("strapi.projectDir `{dir}` of {}", edit.base.display())
                })?;
                out.push_str(&format!(
                    "projectDir = {}\n",
                    toml_string(&abs.display().to_string())
                ));
            }
            ("apiTokenSalt", Some(v)) => {
                salt = Some(v.trim_matches('"').to_string());
                out.push_str(line);
                out.push('\n');
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if edit.ping_interval.is_some() && !saw_interval {
        bail!(
            "{}: no `pingInterval = …` line to change",
            edit.base.display()
        );
    }
    if edit.ping_timeout.is_some() && !saw_timeout {
        bail!(
            "{}: no `pingTimeout = …` line to change",
            edit.base.display()
        );
    }
    if let Some(ms) = edit.recovery_max_disconnection {
        if text.contains("[settings.connection.recovery]") {
            bail!(
                "{}: already has [settings.connection.recovery]",
                edit.base.display()
            );
        }
        out.push_str(&format!(
            "\n# Connection state recovery (strapi-io-bench config --recovery-max-disconnection).\n[settings.connection.recovery]\nmaxDisconnectionDuration = {ms}\n"
        ));
    }
    if edit.extra_tokens > 0 {
        let Some(salt) = salt else {
            bail!("{}: no `apiTokenSalt = \"…\"` line", edit.base.display());
        };
        out.push_str("\n# Extra read-only API tokens (strapi-io-bench config --extra-tokens), one audience each.\n");
        for n in 1..=edit.extra_tokens {
            let plain = extra_token_plain(n);
            out.push_str(&format!(
                "\n[[directory.apiTokens]]\nname = \"{}\"\ntype = \"read-only\"\n# plain token: {plain}\naccessKey = \"{}\"\n",
                extra_token_name(n),
                strapi_io_core::auth::hash_api_token(&plain, &salt)
            ));
        }
    }
    Ok(out)
}

fn toml_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_heartbeats_and_adds_tokens() {
        let dir =
            std::env::temp_dir().join(format!("strapi-io-bench-genconfig-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("project")).unwrap();
        let base = dir.join("base.toml");
        std::fs::write(
            &base,
            "[strapi]\nprojectDir = \"project\"\n[directory]\napiTokenSalt = \"s\"\n[settings.connection]\npingInterval = 25000\npingTimeout = 20000\n",
        )
        .unwrap();
        let out = generate(&ConfigEdit {
            base: base.clone(),
            ping_interval: Some(1000),
            ping_timeout: None,
            extra_tokens: 2,
            recovery_max_disconnection: Some(0),
        })
        .unwrap();
        assert!(out.contains("[settings.connection.recovery]\nmaxDisconnectionDuration = 0\n"));
        assert!(out.contains("pingInterval = 1000\n"), "{out}");
        assert!(out.contains("pingTimeout = 20000\n"));
        assert!(out.contains("name = \"bench-extra-2\""));
        let hash = strapi_io_core::auth::hash_api_token("demo-token-bench-extra-1", "s");
        assert!(out.contains(&hash));
        let abs = dir.join("project").canonicalize().unwrap();
        assert!(out.contains(&format!("projectDir = \"{}\"", abs.display())));
        std::fs::write(&base, "[directory]\n").unwrap();
        assert!(
            generate(&ConfigEdit {
                base: base.clone(),
                ping_interval: Some(1),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            generate(&ConfigEdit {
                base,
                extra_tokens: 1,
                ..Default::default()
            })
            .is_err()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
