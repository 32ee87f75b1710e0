//! Output files named on the command line (`--report`, `--rejects`, `--emit`, `--out`): checked
//! before any work starts, so that a typo in a path fails at once with exit 2 instead of after
//! an hour of importing.
//!
//! Owns the check, and `-` as standard output for `--out` ([`open_out`]). The check never
//! truncates an existing file and leaves nothing behind when the file did not exist; what is
//! written stays with each command.

use std::io::Write;
use std::path::Path;

/// `--out -`: standard output.
pub fn is_stdout(path: &Path) -> bool {
    path == Path::new("-")
}

/// Where `--out` writes: standard output for `-`, else the file (created or truncated).
pub fn open_out(path: &Path) -> anyhow::Result<Box<dyn Write>> {
    use anyhow::Context as _;
    if is_stdout(path) {
        return Ok(Box::new(std::io::stdout().lock()));
    }
    let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(Box::new(std::io::BufWriter::new(file)))
}

/// How a message names `--out`'s target.
pub fn shown(path: &Path) -> String {
    if is_stdout(path) { "standard output".into() } else { path.display().to_string() }
}

/// Checks that `path` (given as `flag`) can be written: its directory exists and is writable,
/// and it is not itself a directory. The message says which path and what to do.
pub fn check_writable(flag: &str, path: &Path) -> Result<(), String> {
    let shown = path.display();
    if path.is_dir() {
        return Err(format!("{flag} {shown} is a directory; give a file name, e.g. {flag} {shown}/out"));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        let why = if dir.exists() { "is not a directory" } else { "does not exist" };
        return Err(format!(
            "{flag} {shown}: the directory {} {why}; create it first or choose another path",
            dir.display()
        ));
    }
    if path.exists() {
        // Opening for append checks the permission without touching the content.
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| format!("{flag} {shown} cannot be written ({e}); choose another path"))
    } else {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| format!("{flag} {shown} cannot be created ({e}); choose another path"))?;
        std::fs::remove_file(path).map_err(|e| format!("{flag} {shown}: cannot remove the probe file ({e})"))
    }
}

/// [`check_writable`] for a command: prints the problem and returns the usage exit code.
pub fn check_or_exit(flag: &str, path: Option<&Path>) -> Result<(), u8> {
    match path.filter(|p| !(flag == "--out" && is_stdout(p))).map(|p| check_writable(flag, p)) {
        Some(Err(msg)) => {
            eprintln!("error: {msg}");
            Err(super::exit::USAGE)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_an_existing_directory_passes_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("report.json");
        check_writable("--report", &p).expect("writable");
        assert!(!p.exists(), "the probe was removed");
    }

    #[test]
    fn an_existing_file_passes_and_keeps_its_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("report.json");
        std::fs::write(&p, "keep").expect("write");
        check_writable("--report", &p).expect("writable");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "keep");
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("nope").join("report.json");
        let err = check_writable("--report", &p).expect_err("missing dir");
        assert!(err.contains("nope") && err.contains("does not exist"), "{err}");
    }

    #[test]
    fn a_directory_is_not_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = check_writable("--out", dir.path()).expect_err("a directory");
        assert!(err.contains("is a directory"), "{err}");
    }

    #[test]
    fn a_path_under_a_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.txt");
        std::fs::write(&file, "x").expect("write");
        let err = check_writable("--emit", &file.join("out.jsonl")).expect_err("under a file");
        assert!(err.contains("is not a directory"), "{err}");
    }
}
