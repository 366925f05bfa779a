//! The README and the example configuration cannot drift from the program: every key of
//! `probes.example.toml` is in the README's configuration reference (and the reverse), and
//! every command and flag in `--help` is documented in the README.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).expect(name)
}

/// `key` of every `key = …` line, commented out or not.
fn example_keys() -> BTreeSet<String> {
    read("probes.example.toml")
        .lines()
        .filter_map(|line| {
            let line = line.trim_start_matches('#').trim();
            let (key, _) = line.split_once('=')?;
            let key = key.trim();
            let ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            ok.then(|| key.to_string())
        })
        .collect()
}

/// The keys of the README's configuration reference table (second column).
fn reference_keys() -> BTreeSet<String> {
    let readme = read("README.md");
    let start = readme
        .find("#### Configuration reference")
        .expect("README has a configuration reference");
    readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with("| section"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(2))
        .map(|cell| cell.trim().trim_matches('`').to_string())
        .collect()
}

#[test]
fn configuration_reference_matches_the_example_file() {
    let example = example_keys();
    let reference = reference_keys();
    assert!(reference.len() >= 30, "{reference:?}");
    let missing: Vec<_> = example.difference(&reference).collect();
    let extra: Vec<_> = reference.difference(&example).collect();
    assert!(
        missing.is_empty(),
        "in probes.example.toml, not in the README: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in the README, not in probes.example.toml: {extra:?}"
    );
}

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_smtpwatch"))
        .args(args)
        .arg("--help")
        .output()
        .expect("run smtpwatch");
    assert!(out.status.success(), "{args:?} --help failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_command_and_flag_in_help_is_in_the_readme() {
    let readme = read("README.md");
    let top = help(&[]);
    for command in ["run", "check", "config", "alert"] {
        assert!(
            top.contains(&format!("  {command}")),
            "--help lacks {command}:\n{top}"
        );
    }
    for command in [
        "smtpwatch run",
        "smtpwatch check",
        "smtpwatch config check",
        "smtpwatch alert test",
    ] {
        assert!(readme.contains(command), "README does not show `{command}`");
    }
    for args in [
        &["run"][..],
        &["check"],
        &["config", "check"],
        &["alert", "test"],
    ] {
        let text = help(args);
        let flags: BTreeSet<&str> = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .filter(|w| !matches!(*w, "--help" | "--version"))
            .collect();
        for flag in flags {
            assert!(
                readme.contains(flag),
                "README does not document `{flag}` of {args:?}"
            );
        }
    }
}

/// Run as it is, the example configuration contacts nothing beyond loopback: its probes are
/// loopback addresses and its notifiers' URLs point at 127.0.0.1.
#[test]
fn the_example_configuration_stays_on_loopback() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("probes.example.toml");
    let config = smtpwatch::config::load(&path).expect("the example loads");
    assert!(!config.probes.is_empty());
    for p in &config.probes {
        match &p.target.host {
            smtpwatch::target::Host::Ip(ip) => assert!(ip.is_loopback(), "{}: {ip}", p.name),
            other => panic!("{}: {other:?} would be looked up in DNS", p.name),
        }
    }
    for line in read("probes.example.toml")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
    {
        if line.contains("://") {
            assert!(line.contains("://127.0.0.1"), "beyond loopback: {line}");
        }
    }
}

/// The Kubernetes example parses, and its shard count follows its replicas.
#[test]
fn the_statefulset_example_parses_and_its_shards_match_its_replicas() {
    let text = read("deploy/kubernetes/statefulset.yaml");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML that parses");
    assert_eq!(doc["kind"], "StatefulSet");
    let replicas = doc["spec"]["replicas"].as_u64().expect("replicas");
    let container = &doc["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    let shard = args
        .windows(2)
        .find(|w| w[0] == "--shard")
        .map(|w| w[1])
        .expect("--shard");
    assert_eq!(shard, format!("$(POD_INDEX)/{replicas}"));
    assert_eq!(
        container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.labels['apps.kubernetes.io/pod-index']"
    );
    // What Kubernetes will pass pod 2 parses as shard 2 of them.
    let pod2: smtpwatch::shard::Shard = shard.replace("$(POD_INDEX)", "2").parse().expect("shard");
    assert_eq!((pod2.index, u64::from(pod2.count)), (2, replicas));
}
