//! The receipt validator on arbitrary publish bodies against a fixed dialog (first byte: which
//! dialog view): never a panic, at most 20 findings, violations first, a consistent verdict.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wiretape_mock_server::fuzzing::check_receipt_bytes(data);
});
