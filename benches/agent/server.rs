//! The fake SMTP servers of the child process: plaintext and STARTTLS listeners that walk the
//! same dialogue the probe does.

use super::*;

pub(super) fn serve_forever() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let ca = rcgen::CertifiedIssuer::self_signed(
            {
                let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
                p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
                p.distinguished_name
                    .push(rcgen::DnType::CommonName, "bench CA");
                p
            },
            rcgen::KeyPair::generate().expect("key"),
        )
        .expect("ca");
        let leaf_key = rcgen::KeyPair::generate().expect("key");
        let mut leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        leaf_params.is_ca = rcgen::IsCa::ExplicitNoCa;
        let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("leaf");
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        println!("{}END CA", ca.pem());
        for i in 0..=PLAIN_LISTENERS {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            println!("{}", listener.local_addr().expect("addr"));
            let tls = (i == PLAIN_LISTENERS).then(|| acceptor.clone());
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(session(stream, tls.clone()));
                }
            });
        }
        println!("END ADDRS");
        // Serve until the parent closes our stdin.
        let mut stdin = tokio::io::stdin();
        let mut sink = [0u8; 64];
        while tokio::io::AsyncReadExt::read(&mut stdin, &mut sink)
            .await
            .map(|n| n > 0)
            .unwrap_or(false)
        {}
    });
}

pub(super) async fn session(stream: tokio::net::TcpStream, tls: Option<tokio_rustls::TlsAcceptor>) {
    let mut reader = TokioBufReader::new(stream);
    if reader
        .get_mut()
        .write_all(b"220 bench.test ESMTP\r\n")
        .await
        .is_err()
    {
        return;
    }
    let offer = if tls.is_some() {
        "STARTTLS"
    } else {
        "PIPELINING"
    };
    if dialogue(&mut reader, offer).await == Some(true) {
        let Some(acceptor) = tls else { return };
        let Ok(tls_stream) = acceptor.accept(reader.into_inner()).await else {
            return;
        };
        let mut reader = TokioBufReader::new(tls_stream);
        let _ = dialogue(&mut reader, "PIPELINING").await;
        let _ = reader.get_mut().shutdown().await;
    }
}

/// Answers commands until QUIT (None) or STARTTLS (Some(true)).
pub(super) async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    reader: &mut TokioBufReader<S>,
    offer: &str,
) -> Option<bool> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" => format!("250-bench.test\r\n250 {offer}\r\n"),
            "STAR" => "220 2.0.0 go ahead\r\n".to_string(),
            "NOOP" => "250 2.0.0 ok\r\n".to_string(),
            "QUIT" => "221 2.0.0 bye\r\n".to_string(),
            _ => "500 5.5.1 what\r\n".to_string(),
        };
        reader.get_mut().write_all(answer.as_bytes()).await.ok()?;
        match verb.as_str() {
            "STAR" => return Some(true),
            "QUIT" => return None,
            _ => {}
        }
    }
}
