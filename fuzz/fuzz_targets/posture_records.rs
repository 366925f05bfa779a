//! Fuzz what DNS and a policy server hand the posture checks: MTA-STS records and policies,
//! TLS-RPT records, and a TLSA set against an arbitrary certificate chain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpwatch::posture::dane::{check, Tlsa};
use smtpwatch::posture::{mta_sts, tlsrpt};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest).into_owned();
    let records: Vec<String> = text.split('\n').map(str::to_string).collect();
    let _ = mta_sts::parse_record(&records);
    if let Ok(policy) = mta_sts::parse_policy(&text) {
        assert!(policy.max_age <= mta_sts::MAX_AGE_LIMIT);
        for pattern in &policy.mx {
            let _ = mta_sts::mx_matches(pattern, "mx.example.test");
        }
    }
    let _ = tlsrpt::parse_record(&records);
    // A TLSA record and a "chain" cut from the same bytes.
    let tlsa = Tlsa {
        usage: selector % 4,
        selector: (selector >> 2) % 3,
        matching: (selector >> 4) % 4,
        data: rest.iter().take(64).copied().collect(),
    };
    let chain: Vec<Vec<u8>> = rest.chunks(rest.len() / 3 + 1).map(<[u8]>::to_vec).collect();
    let _ = check(&[tlsa], &chain);
});
