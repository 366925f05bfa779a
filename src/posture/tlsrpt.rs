//! SMTP TLS Reporting (RFC 8460): the `_smtp._tls.<domain>` TXT record.

use serde::Serialize;

/// A parsed `v=TLSRPTv1; rua=…` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsRptRecord {
    /// Where reports go (`mailto:` or `https:` URIs).
    pub rua: Vec<String>,
}

/// Parses the TXT strings: records not starting with `v=TLSRPTv1` are ignored; exactly one
/// must remain, with at least one `mailto:` or `https:` address. `Ok(None)`: none published.
pub fn parse_record(txts: &[String]) -> Result<Option<TlsRptRecord>, String> {
    let Some(record) = super::single_record(txts, "v=TLSRPTv1")? else {
        return Ok(None);
    };
    let mut rua = Vec::new();
    for field in record.split(';').skip(1) {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        if key.trim() == "rua" {
            for uri in value.split(',').map(str::trim) {
                if !(uri.starts_with("mailto:") || uri.starts_with("https://")) {
                    return Err(format!(
                        "rua {:?} is not a mailto: or https: URI",
                        crate::escape::escape_str(uri)
                    ));
                }
                rua.push(uri.to_string());
            }
        }
    }
    if rua.is_empty() {
        return Err("the record has no rua".into());
    }
    Ok(Some(TlsRptRecord { rua }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_and_errors_explain() {
        let ok = parse_record(&["v=TLSRPTv1; rua=mailto:tls@mail.test,https://r.test/x".into()]);
        assert_eq!(
            ok,
            Ok(Some(TlsRptRecord {
                rua: vec!["mailto:tls@mail.test".into(), "https://r.test/x".into()]
            }))
        );
        assert_eq!(parse_record(&["v=spf1 -all".into()]), Ok(None));
        assert!(parse_record(&["v=TLSRPTv1;".into()]).is_err_and(|e| e.contains("no rua")));
        assert!(parse_record(&["v=TLSRPTv1; rua=ftp://x".into()]).is_err());
        assert!(parse_record(&[
            "v=TLSRPTv1; rua=mailto:a@b".into(),
            "v=TLSRPTv1; rua=mailto:c@d".into()
        ])
        .is_err());
    }
}
