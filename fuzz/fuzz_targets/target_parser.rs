//! Fuzz the TARGET parser: any text parses or is refused with a reason; what parses prints
//! back as a target that parses to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpwatch::target::Target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(target) = text.parse::<Target>() {
        let again: Target = target.to_string().parse().expect("a printed target parses");
        assert_eq!(again.to_string(), target.to_string());
    }
});
