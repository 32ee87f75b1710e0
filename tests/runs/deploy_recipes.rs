//! The scheduling recipes of `deploy/` (issue 23) are tested, not only written: the Kubernetes
//! file parses as YAML and keeps its promises (`concurrencyPolicy: Forbid`, a
//! PersistentVolumeClaim for journals and state, the webhook from a Secret), the systemd units
//! parse and the timer is `Persistent=true`, the Dockerfile is multi-stage with the binary only
//! in its runtime image, and every command line they run is one `b24import` itself accepts.
//! Docker is not run (there is none in CI): the image is not built here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use b24import::cli::{Cli, Command};
use yaml_rust2::{Yaml, YamlLoader};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(file)
}

fn text(file: &str) -> String {
    std::fs::read_to_string(deploy(file)).unwrap_or_else(|e| panic!("deploy/{file}: {e}"))
}

/// What a recipe's `b24import run ...` line amounts to once its job file is read.
struct Accepted {
    mappings: Vec<PathBuf>,
    journal: PathBuf,
}

/// The command line parses as `b24import run --job-file ...` does in the binary (the job file
/// read and merged); `/etc/b24import/` stands for `etc` (where the test put the files).
fn accepted_run(args: &[String], etc: &Path) -> Accepted {
    let mut argv = vec!["b24import".to_string()];
    argv.extend(args.iter().map(|a| a.replace("/etc/b24import/", &format!("{}/", etc.display()))));
    assert!(args.iter().any(|a| a == "--job-file"), "the recipe runs a job file: {args:?}");
    match b24import::cli::parse_from(&argv) {
        Ok(Cli { command: Command::Run(run), .. }) => Accepted {
            mappings: run.mappings.clone(),
            journal: run.journal.journal.clone().expect("the job file names the journal"),
        },
        Ok(other) => panic!("not a run: {other:?}"),
        Err(e) => panic!("b24import refuses {argv:?}: {e}"),
    }
}

/// A systemd unit: section -> key -> values (a key may repeat), comments and blanks dropped.
fn unit(file: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut section = None;
    for (n, line) in text(file).lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.to_string());
            out.entry(name.to_string()).or_default();
            continue;
        }
        let (key, value) =
            line.split_once('=').unwrap_or_else(|| panic!("{file}:{}: not key=value: {line}", n + 1));
        let section = section.clone().unwrap_or_else(|| panic!("{file}:{}: outside a section", n + 1));
        assert!(!line.ends_with('\\'), "{file}:{}: keep each setting on one line", n + 1);
        out.entry(section)
            .or_default()
            .entry(key.trim().to_string())
            .or_default()
            .push(value.trim().to_string());
    }
    out
}

fn one<'a>(u: &'a BTreeMap<String, BTreeMap<String, Vec<String>>>, section: &str, key: &str) -> &'a str {
    let values =
        u.get(section).and_then(|s| s.get(key)).unwrap_or_else(|| panic!("[{section}] {key}= missing"));
    assert_eq!(values.len(), 1, "[{section}] {key}= once");
    &values[0]
}

#[test]
fn the_systemd_timer_is_persistent_and_the_service_runs_a_command_b24import_accepts() {
    let service = unit("systemd/b24import@.service");
    assert_eq!(one(&service, "Service", "Type"), "oneshot");
    assert_eq!(one(&service, "Service", "StateDirectory"), "b24import");
    assert_eq!(one(&service, "Service", "Environment"), "B24IMPORT_STATE_DIR=/var/lib/b24import/state");
    assert_eq!(
        one(&service, "Service", "EnvironmentFile"),
        "/etc/b24import/%i.env",
        "the webhook is not in the unit"
    );
    assert_eq!(one(&service, "Service", "KillSignal"), "SIGTERM");
    let exec: Vec<String> = one(&service, "Service", "ExecStart")
        .replace("%i", "contacts")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(exec[0], "/usr/local/bin/b24import", "the binary where the image and the install put it");
    // The example job file stands in for /etc/b24import/jobs/.
    let etc = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(etc.path().join("jobs")).expect("dir");
    std::fs::copy(deploy("systemd/jobs/contacts.toml"), etc.path().join("jobs/contacts.toml")).expect("copy");
    let run = accepted_run(&exec[1..], etc.path());
    assert_eq!(run.mappings, [PathBuf::from("/etc/b24import/mappings/contacts.toml")]);
    assert!(
        run.journal.starts_with("/var/lib/b24import"),
        "in the StateDirectory: {}",
        run.journal.display()
    );

    let timer = unit("systemd/b24import@.timer");
    assert_eq!(one(&timer, "Timer", "Persistent"), "true", "a night missed while off runs when back");
    assert!(!one(&timer, "Timer", "OnCalendar").is_empty());
    assert_eq!(one(&timer, "Timer", "Unit"), "b24import@%i.service");
    assert_eq!(one(&timer, "Install", "WantedBy"), "timers.target");
}

fn docs() -> Vec<Yaml> {
    YamlLoader::load_from_str(&text("kubernetes/cronjob.yaml")).expect("cronjob.yaml is YAML")
}

fn of_kind<'a>(docs: &'a [Yaml], kind: &str) -> &'a Yaml {
    docs.iter().find(|d| d["kind"].as_str() == Some(kind)).unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn the_cronjob_forbids_overlaps_keeps_journals_on_a_claim_and_takes_the_webhook_from_a_secret() {
    let docs = docs();
    let cron = of_kind(&docs, "CronJob");
    assert_eq!(cron["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(cron["spec"]["concurrencyPolicy"].as_str(), Some("Forbid"));
    let job = &cron["spec"]["jobTemplate"]["spec"];
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"), "podFailurePolicy needs it");
    let failing: Vec<i64> = job["podFailurePolicy"]["rules"]
        .as_vec()
        .expect("rules")
        .iter()
        .filter(|r| r["action"].as_str() == Some("FailJob"))
        .flat_map(|r| r["onExitCodes"]["values"].as_vec().cloned().unwrap_or_default())
        .filter_map(|v| v.as_i64())
        .collect();
    assert_eq!(failing, [1, 2, 4], "1, 2, 4 fail at once; 3 is retried");
    assert!(job["backoffLimit"].as_i64().is_some_and(|n| n >= 1), "exit 3 gets a retry");

    let claim = of_kind(&docs, "PersistentVolumeClaim")["metadata"]["name"].as_str().expect("claim name");
    let volumes = pod["volumes"].as_vec().expect("volumes");
    let data = volumes
        .iter()
        .find(|v| v["persistentVolumeClaim"]["claimName"].as_str() == Some(claim))
        .expect("a volume from the claim");
    let container = &pod["containers"][0];
    let mount = container["volumeMounts"]
        .as_vec()
        .expect("mounts")
        .iter()
        .find(|m| m["name"] == data["name"])
        .and_then(|m| m["mountPath"].as_str())
        .expect("the claim is mounted");
    assert_eq!(mount, "/var/lib/b24import");

    let env = container["env"].as_vec().expect("env");
    let var = |name: &str| {
        env.iter().find(|e| e["name"].as_str() == Some(name)).unwrap_or_else(|| panic!("{name}"))
    };
    let secret = &var("B24_WEBHOOK_URL")["valueFrom"]["secretKeyRef"];
    assert!(
        secret["name"].as_str().is_some() && secret["key"].as_str().is_some(),
        "from a Secret: {secret:?}"
    );
    assert!(var("B24_WEBHOOK_URL")["value"].is_badvalue(), "never the webhook itself");
    let state = var("B24IMPORT_STATE_DIR")["value"].as_str().expect("state dir");
    assert!(state.starts_with(mount), "the state directory is on the claim: {state}");

    let args: Vec<String> = container["args"]
        .as_vec()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string").to_string())
        .collect();
    let image_entry = text("Dockerfile");
    assert!(image_entry.contains("ENTRYPOINT [\"/usr/local/bin/b24import\"]"), "args go to b24import");
    // The ConfigMap's files where the pod has them (its mount), here in a folder of the test's.
    let jobs_mount = container["volumeMounts"]
        .as_vec()
        .expect("mounts")
        .iter()
        .find(|m| m["mountPath"].as_str() == Some("/etc/b24import"))
        .and_then(|m| m["name"].as_str())
        .expect("/etc/b24import is mounted");
    let from_map = volumes.iter().find(|v| v["name"].as_str() == Some(jobs_mount)).expect("its volume");
    let map = of_kind(&docs, "ConfigMap");
    assert_eq!(from_map["configMap"]["name"], map["metadata"]["name"], "the mount is the ConfigMap");
    let etc = tempfile::tempdir().expect("dir");
    for (name, body) in map["data"].as_hash().expect("data") {
        std::fs::write(etc.path().join(name.as_str().expect("name")), body.as_str().expect("body"))
            .expect("write");
    }
    let run = accepted_run(&args, etc.path());
    assert!(!run.mappings.is_empty());
    for mapping in &run.mappings {
        assert!(mapping.starts_with(etc.path()), "from the ConfigMap: {}", mapping.display());
        match b24import::pipeline::load_mapping(mapping) {
            Ok(m) => assert!(m.problems.is_empty(), "{}: {:?}", mapping.display(), m.problems),
            Err(d) => panic!("{d}"),
        }
    }
    assert!(run.journal.starts_with(mount), "the journal is on the claim: {}", run.journal.display());
}

#[test]
fn the_image_is_built_on_the_rust_image_and_runs_the_binary_alone() {
    let dockerfile = text("Dockerfile");
    let froms: Vec<&str> = dockerfile.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "multi-stage: {froms:?}");
    assert!(froms[0].starts_with("FROM rust:") && froms[0].ends_with(" AS builder"), "{}", froms[0]);
    let runtime = dockerfile.split(froms[1]).nth(1).expect("runtime stage");
    let copies: Vec<&str> = runtime.lines().filter(|l| l.starts_with("COPY")).collect();
    assert!(
        copies.iter().all(|c| c.starts_with("COPY --from=builder")),
        "the runtime image takes only what the builder made: {copies:?}"
    );
    assert!(copies.iter().any(|c| c.ends_with("/src/target/release/b24import /usr/local/bin/b24import")));
    assert!(!runtime.contains("RUN "), "nothing installed or built in the runtime image");
    assert!(runtime.contains("VOLUME [\"/var/lib/b24import\"]"), "journals and state on a volume");
    assert!(runtime.contains("ENV B24IMPORT_STATE_DIR=/var/lib/b24import/state"));
    assert!(dockerfile.contains("--locked"), "built from Cargo.lock");
}

#[test]
fn the_readmes_first_command_runs_the_importer_in_this_workspace() {
    // `cargo run --release -- demo` at the workspace root selects every default member; with the
    // sandbox package's own binary among them, cargo would not know which to run without the
    // importer's `default-run`.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let first = readme.lines().find(|l| l.starts_with("cargo ")).expect("a command at the top");
    assert_eq!(first, "cargo run --release -- demo");
    let manifest: toml::Table =
        std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml").parse().expect("toml");
    let members = manifest["workspace"]["default-members"].as_array().expect("default members").len();
    let default_run = manifest["package"].get("default-run").and_then(|v| v.as_str());
    assert!(
        members == 1 || default_run == Some("b24import"),
        "with {members} default members `cargo run` needs `default-run = \"b24import\"`"
    );
}
