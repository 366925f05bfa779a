//! The posture keys of a `[[probe]]` (`dane`, `mta_sts`, `dnssec_trust_anchor`, `fcrdns`):
//! they apply to `mx:` targets, which get the posture checks by default; on other targets they
//! are an error rather than silently ignored.

use std::path::PathBuf;

use hickory_resolver::proto::dnssec::TrustAnchors;
use toml::Spanned;

use super::files::{FileCache, Loaded};
use super::source::{ConfigError, Source};
use crate::posture::assess::{DaneMode, PostureSettings};
use crate::target::{Target, TargetKind};

/// What a probe's posture checks are.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbePosture {
    /// DANE, MTA-STS and FCrDNS switches.
    pub settings: PostureSettings,
    /// DNSSEC trust anchor (DNSKEY records), read when the configuration was loaded; None: the
    /// root's keys.
    pub trust_anchor: Option<Loaded<TrustAnchors>>,
}

/// The raw keys.
pub(super) struct RawPosture {
    pub dane: Option<Spanned<String>>,
    pub mta_sts: Option<Spanned<bool>>,
    pub dnssec_trust_anchor: Option<Spanned<PathBuf>>,
    pub fcrdns: Option<Spanned<bool>>,
}

pub(super) fn parse(
    raw: RawPosture,
    target: &Target,
    ctx: &str,
    files: &mut FileCache,
    src: &Source<'_>,
) -> Result<Option<ProbePosture>, ConfigError> {
    if target.kind != TargetKind::Mx {
        let given = [
            raw.dane.as_ref().map(|s| ("dane", s.span())),
            raw.mta_sts.as_ref().map(|s| ("mta_sts", s.span())),
            raw.dnssec_trust_anchor
                .as_ref()
                .map(|s| ("dnssec_trust_anchor", s.span())),
            raw.fcrdns.as_ref().map(|s| ("fcrdns", s.span())),
        ];
        if let Some((key, span)) = given.into_iter().flatten().next() {
            return Err(src.at(
                span,
                format!(
                    "{ctx}: {key} applies to mx: targets only (the mail-domain posture checks)"
                ),
            ));
        }
        return Ok(None);
    }
    let dane = match &raw.dane {
        None => DaneMode::Auto,
        Some(d) => d
            .get_ref()
            .parse()
            .map_err(|e| src.at(d.span(), format!("{ctx}: dane: {e}")))?,
    };
    let trust_anchor = match &raw.dnssec_trust_anchor {
        None => None,
        Some(anchor) => Some(
            files
                .anchor(anchor.get_ref())
                .map_err(|e| src.at(anchor.span(), format!("{ctx}: dnssec_trust_anchor: {e}")))?,
        ),
    };
    Ok(Some(ProbePosture {
        settings: PostureSettings {
            dane,
            mta_sts: raw.mta_sts.is_none_or(Spanned::into_inner),
            fcrdns: raw.fcrdns.is_none_or(Spanned::into_inner),
        },
        trust_anchor,
    }))
}
