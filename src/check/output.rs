//! What `check` prints: the reports in the chosen format, then the domain posture if any.

use super::args::{CheckArgs, Format};
use crate::posture::summary::DomainPosture;
use crate::report::{render, ProbeReport};

/// The whole output of one `check` run.
pub(super) fn render(
    args: &CheckArgs,
    shown: &str,
    reports: &[ProbeReport],
    posture: Option<&DomainPosture>,
) -> String {
    let mut output = match args.format {
        Format::Text => render::text(shown, reports, args.transcript),
        Format::Json => render::json_lines(reports),
        Format::Nagios => render::nagios(shown, reports),
    };
    let Some(posture) = posture else {
        return output;
    };
    match args.format {
        Format::Text => {
            output.push('\n');
            output.push_str(&crate::posture::render::text(posture));
        }
        Format::Json => {
            let line = serde_json::json!({ "domain_posture": posture });
            output.push_str(&line.to_string());
            output.push('\n');
        }
        Format::Nagios => {
            for f in &posture.findings {
                output.push_str(&format!(
                    "posture {} {} {}: {}\n",
                    f.severity,
                    f.reason,
                    f.subject,
                    f.message.replace('|', "/")
                ));
            }
        }
    }
    output
}
