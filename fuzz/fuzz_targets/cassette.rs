//! The cassette reader on arbitrary bytes: what it accepts must give back its payloads,
//! normalize into a transcript and survive a write/read round trip, all without a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wiretape_fixtures::fuzzing::read_cassette(data);
});
