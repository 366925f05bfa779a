//! Tests of on-demand trust: every verdict is the whole store's, a CA file's root is tried
//! first, and the bundled roots stand in for an empty system store.

use super::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::path::PathBuf;

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    CertifiedIssuer::self_signed(ca_params(name), KeyPair::generate().expect("key")).expect("ca")
}

fn intermediate(
    name: &str,
    by: &CertifiedIssuer<'static, KeyPair>,
) -> CertifiedIssuer<'static, KeyPair> {
    CertifiedIssuer::signed_by(ca_params(name), KeyPair::generate().expect("key"), by).expect("ca")
}

fn leaf(
    name: &str,
    by: &CertifiedIssuer<'static, KeyPair>,
    expired: bool,
) -> CertificateDer<'static> {
    let mut params = CertificateParams::new(vec![name.to_string()]).expect("params");
    if expired {
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(30);
        params.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    }
    let key = KeyPair::generate().expect("key");
    params.signed_by(&key, by).expect("leaf").der().clone()
}

/// A bundle of Debian's roots, then `ours`, written where only this test reads it.
fn bundle(ours: &[&CertifiedIssuer<'static, KeyPair>], file: &str) -> PathBuf {
    let mut text =
        std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").expect("Debian's CA bundle");
    for ca in ours {
        text.push_str(&ca.pem());
    }
    let path = std::env::temp_dir().join(format!("smtpwatch-{}-{file}", std::process::id()));
    std::fs::write(&path, text).expect("write bundle");
    path
}

type Verdict = Result<(), rustls::Error>;

fn verdicts(
    on_demand: &OnDemandVerifier,
    whole: &WebPkiServerVerifier,
    chain: &[CertificateDer<'static>],
    name: &str,
) -> (Verdict, Verdict) {
    let name = ServerName::try_from(name.to_string()).expect("name");
    let now = UnixTime::now();
    let run = |v: &dyn ServerCertVerifier| {
        v.verify_server_cert(&chain[0], &chain[1..], &name, &[], now)
            .map(|_| ())
    };
    (run(on_demand), run(whole))
}

#[test]
fn verdicts_are_those_of_the_whole_store() {
    let root = ca("smtpwatch on-demand root");
    let twin = ca("smtpwatch on-demand root"); // same subject, another key
    let middle = intermediate("smtpwatch on-demand intermediate", &root);
    let stranger = ca("smtpwatch unknown root");
    let operator = ca("smtpwatch operator root"); // only in a CA file
    let path = bundle(&[&twin, &root], "on-demand.pem");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut whole_roots = RootCertStore::empty();
    let text = pem::read_file(&path).expect("bundle");
    let (added, _) = whole_roots
        .add_parsable_certificates(pem::certificates(&text).into_iter().filter_map(Result::ok));
    assert!(added > 100);
    let mut extra = RootCertStore::empty();
    extra.add(operator.der().clone()).expect("operator root");
    whole_roots.extend(extra.roots.iter().cloned());
    let whole =
        WebPkiServerVerifier::builder_with_provider(Arc::new(whole_roots), provider.clone())
            .build()
            .expect("verifier");
    let on_demand =
        OnDemandVerifier::new(provider.clone(), extra.roots.clone(), vec![path.clone()]);
    // A chain to a CA file's root is verified without reading the system bundle at all.
    let fresh = OnDemandVerifier::new(provider, extra.roots, vec![path.clone()]);
    let to_operator = [leaf("a.test", &operator, false)];
    let (ours, theirs) = verdicts(&fresh, &whole, &to_operator, "a.test");
    assert!(ours.is_ok() && theirs.is_ok(), "{ours:?} {theirs:?}");
    assert!(fresh.index.get().is_none(), "the system bundle was indexed");
    let (ours, _) = verdicts(&fresh, &whole, &[leaf("a.test", &root, false)], "a.test");
    assert!(ours.is_ok() && fresh.index.get().is_some(), "{ours:?}");

    let cases: Vec<(&str, Vec<CertificateDer<'static>>, &str, bool)> = vec![
        (
            "signed by a bundle root",
            vec![leaf("a.test", &root, false)],
            "a.test",
            true,
        ),
        (
            "through an intermediate",
            vec![leaf("a.test", &middle, false), middle.der().clone()],
            "a.test",
            true,
        ),
        (
            "intermediate missing",
            vec![leaf("a.test", &middle, false)],
            "a.test",
            false,
        ),
        (
            "unknown root",
            vec![leaf("a.test", &stranger, false)],
            "a.test",
            false,
        ),
        (
            "expired",
            vec![leaf("a.test", &root, true)],
            "a.test",
            false,
        ),
        (
            "expired, unknown root",
            vec![leaf("a.test", &stranger, true)],
            "a.test",
            false,
        ),
        (
            "another name",
            vec![leaf("a.test", &root, false)],
            "b.test",
            false,
        ),
        (
            "a CA file's root",
            vec![leaf("a.test", &operator, false)],
            "a.test",
            true,
        ),
        (
            "a CA file's root, another name",
            vec![leaf("a.test", &operator, false)],
            "b.test",
            false,
        ),
        (
            "a CA file's root, expired",
            vec![leaf("a.test", &operator, true)],
            "a.test",
            false,
        ),
        (
            "not a certificate",
            vec![CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])],
            "a.test",
            false,
        ),
    ];
    for (case, chain, name, verifies) in cases {
        let (ours, theirs) = verdicts(&on_demand, &whole, &chain, name);
        assert_eq!(ours, theirs, "{case}");
        assert_eq!(ours.is_ok(), verifies, "{case}: {ours:?}");
    }
    // For a chain, only the two roots named like its issuer, and the CA file's.
    let chain = [leaf("a.test", &root, false)];
    let refs: Vec<&CertificateDer<'_>> = chain.iter().collect();
    assert_eq!(on_demand.roots_for(&refs).len(), 3);
    std::fs::remove_file(path).expect("clean up");
}

#[test]
fn no_system_roots_means_the_bundled_mozilla_roots() {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let missing = std::env::temp_dir().join("smtpwatch-no-such-bundle.pem");
    let index = SystemIndex::build(vec![missing]);
    // rustls-native-certs still finds the system's directory store here.
    assert!(!index.roots.is_empty());
    let empty = OnDemandVerifier {
        provider,
        extra: Vec::new(),
        extra_only: None,
        bundles: Vec::new(),
        index: OnceLock::from(SystemIndex {
            text: Vec::new(),
            roots: Vec::new(),
        }),
    };
    let chain = [CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])];
    let refs: Vec<&CertificateDer<'_>> = chain.iter().collect();
    assert_eq!(
        empty.roots_for(&refs).len(),
        webpki_roots::TLS_SERVER_ROOTS.len()
    );
}
