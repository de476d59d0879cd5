//! The consumer request parser (envelope, typed request, InitConnection headers) on arbitrary
//! text frames: never a panic, every rejection a 400/401 naming its rule and field.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wiretape_mock_server::fuzzing::parse_request(data);
});
