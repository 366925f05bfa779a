//! The Prometheus text exposition format, written by hand: family headers, escaped label
//! pairs and samples. The registry's encoder needs a protobuf object per sample; a 100,000
//! address scrape and every `/probe` answer cannot afford that.

use std::fmt::Write as _;

/// The `# HELP` and `# TYPE` lines of a family (`kind`: gauge, counter or histogram).
pub fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

/// `key="value"`, the value escaped as the format requires (backslash, quote, line feed).
pub fn push_pair(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// [`push_pair`] into a string of its own.
pub fn pair(key: &str, value: &str) -> String {
    let mut out = String::with_capacity(key.len() + value.len() + 3);
    push_pair(&mut out, key, value);
    out
}

/// Appends `pairs` with non-empty values to a label list in exposition form (an empty label
/// is the same series as no label, so it is left out).
pub fn push_pairs<'a>(out: &mut String, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
    for (key, value) in pairs.into_iter().filter(|(_, v)| !v.is_empty()) {
        if !out.is_empty() {
            out.push(',');
        }
        push_pair(out, key, value);
    }
}

/// One sample line: `labels` and `extra` are label lists in exposition form (either may be
/// empty); without labels the braces are left out.
pub fn sample(out: &mut String, name: &str, labels: &str, extra: &str, value: f64) {
    out.push_str(name);
    if !labels.is_empty() || !extra.is_empty() {
        out.push('{');
        out.push_str(labels);
        if !labels.is_empty() && !extra.is_empty() {
            out.push(',');
        }
        out.push_str(extra);
        out.push('}');
    }
    out.push(' ');
    push_value(out, value);
    out.push('\n');
}

/// A value as the format spells it: Rust's shortest round-trip decimal, and `+Inf`, `-Inf`,
/// `NaN` (Rust would write `inf`, which Prometheus rejects).
fn push_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_escape_labels_and_spell_special_values_as_prometheus_does() {
        let mut out = String::new();
        let mut labels = String::new();
        super::push_pairs(&mut labels, [("a", "x\"\\\ny"), ("empty", ""), ("b", "2")]);
        super::sample(&mut out, "m", &labels, &super::pair("c", "3"), 0.25);
        super::sample(&mut out, "m", "", "", f64::INFINITY);
        super::sample(&mut out, "m", &labels, "", f64::NEG_INFINITY);
        super::sample(&mut out, "m", "", &super::pair("c", "3"), f64::NAN);
        super::sample(&mut out, "m", "", "", 1e21);
        assert_eq!(
            out,
            "m{a=\"x\\\"\\\\\\ny\",b=\"2\",c=\"3\"} 0.25\nm +Inf\n\
             m{a=\"x\\\"\\\\\\ny\",b=\"2\"} -Inf\nm{c=\"3\"} NaN\n\
             m 1000000000000000000000\n"
        );
    }
}
