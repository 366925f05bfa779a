//! `[agent] web_config_file`: TLS, client certificates and basic auth in front of every
//! endpoint, the file re-read when it changes, and a bad file refused with its location.

use std::sync::Arc;

use base64::Engine as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::*;
use crate::support::certs::{Leaf, TestCa};

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn write_leaf(dir: &std::path::Path, name: &str, leaf: &Leaf) {
    let chain: String = leaf.chain.iter().map(|c| pem("CERTIFICATE", c)).collect();
    std::fs::write(dir.join(format!("{name}.crt")), chain).expect("crt");
    std::fs::write(
        dir.join(format!("{name}.key")),
        pem("PRIVATE KEY", leaf.key.secret_der()),
    )
    .expect("key");
}

/// A client trusting `ca`, presenting `identity` when given.
fn client(ca: &TestCa, identity: Option<&Leaf>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match identity {
        Some(leaf) => {
            let chain: Vec<CertificateDer<'static>> = leaf.chain.clone();
            let key: PrivateKeyDer<'static> = leaf.key.clone_key();
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// The agent with `web.yml` (written by the caller into `dir`) as its web_config_file.
async fn start_secured(dir: &std::path::Path, good: SocketAddr) -> TestAgent {
    let text = format!(
        "[agent]\nlisten = \"127.0.0.1:0\"\nweb_config_file = \"{}/web.yml\"\n\n[[probe]]\nname = \"good\"\ntarget = \"{good}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
        dir.display()
    );
    launch(&text).await
}

/// GETs `path` until the server answers at all (bounded), returning the status.
async fn status(
    client: &reqwest::Client,
    url: &str,
    auth: Option<(&str, &str)>,
) -> Result<u16, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut request = client.get(url);
        if let Some((user, password)) = auth {
            request = request.basic_auth(user, Some(password));
        }
        match request.send().await {
            Ok(response) => return Ok(response.status().as_u16()),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e.to_string()),
            Err(e) if e.is_connect() => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smtpwatch-web-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_basic_auth_guard_every_endpoint_and_the_file_is_re_read() {
    let good = FakeService::start(healthy_script).await;
    let ca = TestCa::new("web CA");
    let dir = temp_dir("auth");
    write_leaf(&dir, "server", &ca.leaf(&["localhost", "127.0.0.1"], 90));
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    std::fs::write(
        dir.join("web.yml"),
        format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: {hash}\n"),
    )
    .expect("web.yml");
    let agent = start_secured(&dir, good.addr).await;
    let https = client(&ca, None);
    let url = |path: &str| format!("https://localhost:{}{path}", agent.addr.port());
    assert_eq!(
        status(&https, &url("/metrics"), Some(("prometheus", "s3cret"))).await,
        Ok(200)
    );
    for path in ["/metrics", "/", "/healthz", "/probe?target=127.0.0.1"] {
        assert_eq!(status(&https, &url(path), None).await, Ok(401), "{path}");
        assert_eq!(
            status(&https, &url(path), Some(("prometheus", "wrong"))).await,
            Ok(401),
            "{path}"
        );
    }
    let response = https.get(url("/metrics")).send().await.expect("401");
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Basic realm=\"smtpwatch\"")
    );
    // Plain HTTP on the TLS port gets no answer.
    let refused = https
        .get(format!("http://127.0.0.1:{}/metrics", agent.addr.port()))
        .send()
        .await;
    assert!(refused.is_err(), "plain HTTP answered: {refused:?}");

    // A new password, written over the file, takes over within a few seconds.
    let new_hash = bcrypt::hash("n3w", 4).expect("hash");
    let text = format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: {new_hash}\n");
    std::fs::write(dir.join("web.yml"), text).expect("rewrite");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while status(&https, &url("/metrics"), Some(("prometheus", "n3w"))).await != Ok(200) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new password never took over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status(&https, &url("/metrics"), Some(("prometheus", "s3cret"))).await,
        Ok(401)
    );
    agent.shutdown.cancel();
    let _ = agent.task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_when_asked() {
    let good = FakeService::start(healthy_script).await;
    let ca = TestCa::new("web CA");
    let clients = TestCa::new("client CA");
    let dir = temp_dir("mtls");
    write_leaf(&dir, "server", &ca.leaf(&["localhost"], 90));
    std::fs::write(dir.join("clients.crt"), clients.pem()).expect("client ca");
    std::fs::write(
        dir.join("web.yml"),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.crt\n  min_version: TLS13\n",
    )
    .expect("web.yml");
    let agent = start_secured(&dir, good.addr).await;
    let url = format!("https://localhost:{}/healthz", agent.addr.port());
    let with_cert = client(&ca, Some(&clients.leaf(&["prometheus"], 30)));
    assert_eq!(status(&with_cert, &url, None).await, Ok(200));
    assert!(
        status(&client(&ca, None), &url, None).await.is_err(),
        "no client certificate"
    );
    let stranger = client(&ca, Some(&TestCa::new("other CA").leaf(&["x"], 30)));
    assert!(
        status(&stranger, &url, None).await.is_err(),
        "a certificate of another CA"
    );
    agent.shutdown.cancel();
    let _ = agent.task.await;
}

#[test]
fn a_bad_web_config_file_is_a_located_configuration_error() {
    let dir = temp_dir("bad");
    let cases = [
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
            "missing.crt",
        ),
        (
            "basic_auth_users:\n  alice: plaintext-password\n",
            "not a bcrypt hash",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
            "TLS 1.0 and 1.1",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [x]\n",
            "cipher_suites",
        ),
        ("basic_auth_users: [unclosed\n", "web.yml"),
    ];
    for (yaml, wanted) in cases {
        std::fs::write(dir.join("web.yml"), yaml).expect("web.yml");
        let text = format!("[agent]\nweb_config_file = \"{}/web.yml\"\n", dir.display());
        let err = smtpwatch::config::parse(&text, std::path::Path::new("p.toml"))
            .expect_err(wanted)
            .to_string();
        assert!(err.starts_with("p.toml:2:"), "{err}");
        assert!(err.contains(wanted), "{wanted}: {err}");
        assert!(!err.contains("plaintext-password"), "{err}");
    }
}
