//! SMTP TLS Reporting (RFC 8460): the `_smtp._tls.<domain>` TXT record.

use serde::Serialize;

/// A parsed `v=TLSRPTv1; rua=…` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsRptRecord {
    /// Where reports go (`mailto:` or `https:` URIs).
    pub rua: Vec<String>,
}

/// Why a TLS-RPT record is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RptError {
    /// More than one `v=TLSRPTv1` record.
    #[error(transparent)]
    Several(#[from] super::SeveralRecords),
    /// A report address that is neither `mailto:` nor `https:` (escaped).
    #[error("rua {0:?} is not a mailto: or https: URI")]
    BadRua(String),
    /// No `rua` at all.
    #[error("the record has no rua")]
    NoRua,
}

/// Parses the TXT strings: records not starting with `v=TLSRPTv1` are ignored; exactly one
/// must remain, with at least one `mailto:` or `https:` address. `Ok(None)`: none published.
pub fn parse_record(txts: &[String]) -> Result<Option<TlsRptRecord>, RptError> {
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
                    return Err(RptError::BadRua(crate::escape::escape_str(uri)));
                }
                rua.push(uri.to_string());
            }
        }
    }
    if rua.is_empty() {
        return Err(RptError::NoRua);
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
        assert_eq!(parse_record(&["v=TLSRPTv1;".into()]), Err(RptError::NoRua));
        assert_eq!(
            parse_record(&["v=TLSRPTv1; rua=ftp://x".into()]),
            Err(RptError::BadRua("ftp://x".into()))
        );
        let two = parse_record(&[
            "v=TLSRPTv1; rua=mailto:a@b".into(),
            "v=TLSRPTv1; rua=mailto:c@d".into(),
        ]);
        assert!(matches!(&two, Err(RptError::Several(_))), "{two:?}");
        assert_eq!(
            two.map_err(|e| e.to_string()),
            Err("2 v=TLSRPTv1 TXT records; exactly one is allowed".into())
        );
    }
}
