//! Where a rotated OAuth refresh token is kept, and which refresh token a command starts with.
//!
//! Owns: the token file's place (one per portal and OAuth client, wherever the journal is:
//! `$B24IMPORT_STATE_DIR`, else `$XDG_STATE_HOME/b24import`, else `~/.local/state/b24import`,
//! then `oauth/<portal host>-<hash of portal and client id>.refresh-token`; `--token-file`
//! names it outright), its format (the token, then the fingerprint of the `B24_REFRESH_TOKEN`
//! it descends from), the private atomic write, and the rule between the saved token and the
//! environment. Must not: put a secret into a file name, or print a token.

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::host_state::state_dir;

/// The token file of the OAuth client `client_id` on the portal whose REST endpoint is
/// `portal`: one file for every journal, mapping and command. The name carries the portal's
/// host (to be recognisable) and a hash of the normalised endpoint and the client id, never a
/// secret.
pub fn token_file(portal: &str, client_id: &str) -> PathBuf {
    let (host, origin) = match reqwest::Url::parse(portal.trim()) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("portal").to_ascii_lowercase();
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            (host.clone(), format!("{}://{host}{port}", u.scheme()))
        }
        Err(_) => ("portal".to_string(), portal.trim().to_ascii_lowercase()),
    };
    let safe = crate::host_state::file_safe(&host);
    let id = fingerprint(&format!("{origin}\n{}", client_id.trim()));
    state_dir().join("oauth").join(format!("{safe}-{}.refresh-token", &id[..16]))
}

/// A refresh token saved by an earlier command (the token file): the token, and the
/// fingerprint of the `B24_REFRESH_TOKEN` that was set when it was saved (None: not set, or
/// a file written before fingerprints were kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SavedToken {
    token: String,
    env_fingerprint: Option<String>,
}

/// Which refresh token to try first and second, and where they came from (for the error).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct RefreshChoice {
    pub first: String,
    pub second: Option<String>,
    pub hint: String,
}

const FINGERPRINT_PREFIX: &str = "from-env-sha256 ";

/// The SHA-256 of an environment token, to recognise it later without keeping it twice.
pub(super) fn fingerprint(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The saved token file: line 1 the token, then optionally `from-env-sha256 <hex>`.
/// The saved token of `file`; before one was saved there, the one an older version kept in
/// `legacy` (`<journal>.refresh-token`), so an upgrade loses no rotation.
pub(super) fn read_saved_or_legacy(file: &Path, legacy: &Path) -> Option<SavedToken> {
    read_saved(file).or_else(|| if file.exists() { None } else { read_saved(legacy) })
}

pub(super) fn read_saved(path: &Path) -> Option<SavedToken> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let token = lines.next()?.trim().to_string();
    if token.is_empty() {
        return None;
    }
    let env_fingerprint =
        lines.find_map(|l| l.trim().strip_prefix(FINGERPRINT_PREFIX)).map(|h| h.trim().to_string());
    Some(SavedToken { token, env_fingerprint })
}

/// The rule between `B24_REFRESH_TOKEN` and the token an earlier run saved after rotating it:
/// - only one of them: that one;
/// - the saved one descends from the current `B24_REFRESH_TOKEN` (its fingerprint matches, or
///   the file predates fingerprints): the saved one, newer (a cron job sets the variable once,
///   the portal rotates the token on every refresh);
/// - `B24_REFRESH_TOKEN` changed since the file was saved: the user re-authorized, the
///   variable wins.
///
/// The other one is kept as a fallback, tried once if the first is refused.
pub(super) fn choose_refresh(
    env: Option<String>,
    saved: Option<SavedToken>,
    file: &Path,
) -> anyhow::Result<RefreshChoice> {
    let file = file.display();
    let advice = "a B24_REFRESH_TOKEN that differs from the saved token is used instead of it";
    Ok(match (env, saved) {
        (None, None) => bail!("OAuth needs B24_REFRESH_TOKEN (no refresh token is saved in {file} yet)"),
        (Some(env), None) => RefreshChoice {
            first: env,
            second: None,
            hint: format!("tried B24_REFRESH_TOKEN (no token saved in {file} yet)"),
        },
        (None, Some(saved)) => RefreshChoice {
            first: saved.token,
            second: None,
            hint: format!("tried the refresh token saved in {file} (B24_REFRESH_TOKEN is not set)"),
        },
        (Some(env), Some(saved)) if env == saved.token => RefreshChoice {
            first: env,
            second: None,
            hint: format!("tried B24_REFRESH_TOKEN, the same as the token saved in {file}"),
        },
        (Some(env), Some(saved))
            if saved.env_fingerprint.as_deref().is_none_or(|f| f == fingerprint(&env)) =>
        {
            RefreshChoice {
                first: saved.token,
                second: Some(env),
                hint: format!("tried the refresh token saved in {file}, then B24_REFRESH_TOKEN ({advice})"),
            }
        }
        (Some(env), Some(saved)) => RefreshChoice {
            first: env,
            second: Some(saved.token),
            hint: format!(
                "tried B24_REFRESH_TOKEN (it changed since {file} was saved), then the token saved there"
            ),
        },
    })
}

/// Writes the rotated refresh token atomically, readable by the owner only, with the
/// fingerprint of the `B24_REFRESH_TOKEN` it descends from.
pub(super) fn save_token(path: &Path, token: &str, env_fingerprint: Option<&str>) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut text = format!("{token}\n");
    if let Some(f) = env_fingerprint {
        text.push_str(&format!("{FINGERPRINT_PREFIX}{f}\n"));
    }
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        std::io::Write::write_all(&mut f, text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(token: &str, env: Option<&str>) -> Option<SavedToken> {
        Some(SavedToken { token: token.into(), env_fingerprint: env.map(fingerprint) })
    }

    fn pick(env: Option<&str>, saved: Option<SavedToken>) -> (String, Option<String>) {
        let c =
            choose_refresh(env.map(str::to_string), saved, Path::new("j.refresh-token")).expect("a choice");
        assert!(c.hint.contains("j.refresh-token"), "the hint names the file: {}", c.hint);
        (c.first, c.second)
    }

    // Bug pinned: the token file sat beside the journal, so a token rotated by `provision` was
    // lost to `run --journal custom.sqlite` and the reverse (issue 16).
    #[test]
    fn one_portal_and_client_keep_one_token_file_whatever_the_spelling() {
        let a = token_file("https://Example.bitrix24.ru/rest/", "local.abc");
        assert_eq!(a, token_file("https://example.bitrix24.ru/rest", " local.abc "));
        assert_ne!(a, token_file("https://example.bitrix24.ru/rest/", "local.other"));
        assert_ne!(a, token_file("https://other.bitrix24.ru/rest/", "local.abc"));
        let name = a.file_name().expect("a name").to_string_lossy().to_string();
        assert!(name.starts_with("example.bitrix24.ru-") && name.ends_with(".refresh-token"), "{name}");
        assert!(!name.contains("local.abc"), "{name}");
    }

    // Bug pinned: a re-authorized B24_REFRESH_TOKEN lost to an older token saved by a past run.
    #[test]
    fn the_environment_wins_only_when_it_changed_since_the_token_was_saved() {
        let s = |x: &str| x.to_string();
        assert_eq!(pick(Some("E0"), None), (s("E0"), None));
        assert_eq!(pick(None, saved("S1", Some("E0"))), (s("S1"), None));
        // A cron job sets E0 once; the saved S1 descends from it and is newer.
        assert_eq!(pick(Some("E0"), saved("S1", Some("E0"))), (s("S1"), Some(s("E0"))));
        // A file from before fingerprints: the saved token first, as before.
        assert_eq!(pick(Some("E0"), saved("S1", None)), (s("S1"), Some(s("E0"))));
        // The user re-authorized: E1 is new.
        assert_eq!(pick(Some("E1"), saved("S1", Some("E0"))), (s("E1"), Some(s("S1"))));
        assert_eq!(pick(Some("S1"), saved("S1", Some("E0"))), (s("S1"), None));
        let err = choose_refresh(None, None, Path::new("j.refresh-token")).expect_err("nothing to use");
        assert!(err.to_string().contains("B24_REFRESH_TOKEN"), "{err}");
    }

    #[test]
    fn a_saved_token_reads_back_with_its_fingerprint_and_old_files_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.refresh-token");
        save_token(&path, "T1", Some(&fingerprint("E0"))).expect("save");
        assert_eq!(read_saved(&path), saved("T1", Some("E0")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "T0\n").expect("old format");
        assert_eq!(read_saved(&path), saved("T0", None));
        std::fs::write(&path, "  \n").expect("empty");
        assert_eq!(read_saved(&path), None);
    }
}
