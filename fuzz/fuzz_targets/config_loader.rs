//! Fuzz the configuration loader: any text must give a configuration or a located error, never
//! a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = smtpwatch::config::parse(text, std::path::Path::new("fuzz.toml")) {
        // Every error names the file.
        assert!(e.to_string().starts_with("fuzz.toml"));
    }
});
