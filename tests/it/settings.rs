//! Settings built once: every file the configuration names is read once and shared by the
//! probes naming it, and the agent's jobs probe with what the configuration read.

use std::sync::Arc;

use smtpwatch::config;
use smtpwatch::trust::LazyTrust;

use crate::support::certs::TestCa;
use crate::support::signed_zone::{Rec, Zone};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("smtpwatch-it-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn each_named_file_is_read_once_and_shared_by_the_probes_naming_it() {
    let zone = Zone::start(
        "mail.test.",
        true,
        vec![Rec::Mx("mail.test.", 10, "mx1.mail.test.")],
    )
    .await;
    let dir = temp_dir("files-once");
    let (ca, other_ca, anchor) = (
        dir.join("ca.pem"),
        dir.join("other.pem"),
        dir.join("root.key"),
    );
    std::fs::write(&ca, TestCa::new("one").pem()).expect("ca");
    std::fs::write(&other_ca, TestCa::new("two").pem()).expect("other ca");
    std::fs::write(&anchor, zone.anchor_record()).expect("anchor");
    let text = format!(
        "[[probe]]\nname = \"a\"\ntarget = \"mx:mail.test\"\nca_file = {ca:?}\ndnssec_trust_anchor = {anchor:?}\n\
         [[probe]]\nname = \"b\"\ntarget = \"mx:other.test\"\nca_file = {ca:?}\ndnssec_trust_anchor = {anchor:?}\n\
         [[probe]]\nname = \"c\"\ntarget = \"mx.other.test\"\nca_file = {other_ca:?}\n\
         [[probe]]\nname = \"d\"\ntarget = \"127.0.0.1:25\"\n"
    );
    let config = config::parse(&text, &dir.join("probes.toml")).expect("valid");
    let [a, b, c, d] = &config.probes[..] else {
        panic!("four probes");
    };
    let trust_of = |p: &config::ProbeConfig| p.ca_file.as_ref().expect("ca_file").value().clone();
    assert!(
        Arc::ptr_eq(&trust_of(a), &trust_of(b)),
        "one read of ca.pem"
    );
    assert!(
        !Arc::ptr_eq(&trust_of(a), &trust_of(c)),
        "other.pem is its own"
    );
    let anchor_of = |p: &config::ProbeConfig| {
        let posture = p.posture.as_ref().expect("mx: posture");
        posture
            .trust_anchor
            .as_ref()
            .expect("anchor")
            .value()
            .clone()
    };
    assert!(
        Arc::ptr_eq(&anchor_of(a), &anchor_of(b)),
        "one read of root.key"
    );
    assert!(d.ca_file.is_none());

    // The probe settings use what the configuration read; without a CA file, the agent's
    // system store.
    let system = Arc::new(LazyTrust::new(Vec::new()));
    let settings_a = a.probe_settings(&system, &config.ehlo_name);
    assert!(Arc::ptr_eq(&settings_a.trust, &trust_of(a)));
    assert!(
        settings_a.trust.get().is_ok(),
        "loaded, with the system roots"
    );
    let settings_d = d.probe_settings(&system, &config.ehlo_name);
    assert!(Arc::ptr_eq(&settings_d.trust, &system));

    // A reload of an unchanged file set changes no probe; a CA file rotated in place changes
    // exactly the probes naming it, so they restart with the new trust.
    let same = config::parse(&text, &dir.join("probes.toml")).expect("valid");
    assert_eq!(same.probes, config.probes);
    std::fs::write(&ca, TestCa::new("rotated").pem()).expect("rotate");
    let rotated = config::parse(&text, &dir.join("probes.toml")).expect("valid");
    assert_ne!(
        rotated.probes[0], config.probes[0],
        "a names the rotated file"
    );
    assert_ne!(rotated.probes[1], config.probes[1], "b names it too");
    assert_eq!(
        rotated.probes[2], config.probes[2],
        "c's file did not change"
    );
    assert_eq!(rotated.probes[3], config.probes[3]);

    // A file that changed is read again by the next load (a reload), not served stale.
    std::fs::write(&ca, "not a certificate").expect("rewrite");
    let again = config::parse(&text, &dir.join("probes.toml"));
    assert!(
        again.is_err_and(|e| e.to_string().contains("ca_file")),
        "the reload reads ca.pem afresh"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
