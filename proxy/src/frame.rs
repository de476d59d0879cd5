//! Just enough of RFC 6455 framing for a transparent relay: find frame boundaries, read a
//! frame's header, unmask a copy of a payload for the recorder, and build the few frames the
//! proxy originates itself (close frames when a leg fails or on shutdown).
//!
//! The relay never re-encodes what it forwards: frames from the client stay masked with the
//! client's own key (valid on the upstream leg, which is also client-to-server), frames from
//! the upstream stay unmasked. Fragmentation, RSV bits and unknown opcodes pass as they came;
//! judging them is the endpoints' business.

/// Continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// Text frame.
pub const OP_TEXT: u8 = 0x1;
/// Binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Ping frame.
pub const OP_PING: u8 = 0x9;
/// Pong frame.
pub const OP_PONG: u8 = 0xA;

/// The parsed header of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN bit: the last frame of a message.
    pub fin: bool,
    /// The opcode (low 4 bits of the first byte).
    pub opcode: u8,
    /// The masking key, when the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// Length of the header in bytes (2 to 14).
    pub header_len: usize,
    /// Length of the payload in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses the header at the start of `buf`; `None` when `buf` does not hold all of it yet.
    pub fn parse(buf: &[u8]) -> Option<Self> {
        let (&b0, rest) = buf.split_first()?;
        let &b1 = rest.first()?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut at) = match b1 & 0x7f {
            126 => (
                u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
                4,
            ),
            127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?), 10),
            n => (u64::from(n), 2),
        };
        let mask = if masked {
            let key: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
            at += 4;
            Some(key)
        } else {
            None
        };
        Some(Self {
            fin: b0 & 0x80 != 0,
            opcode: b0 & 0x0f,
            mask,
            header_len: at,
            payload_len,
        })
    }

    /// Whole length of the frame (header and payload).
    pub fn frame_len(&self) -> u64 {
        self.header_len as u64 + self.payload_len
    }

    /// Whether this is a control frame (close, ping, pong, or a reserved control opcode).
    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// The whole frames at the start of a read buffer, as found by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scan {
    /// Length of the whole frames found (they may be forwarded together).
    pub ready: usize,
    /// The last of them is a close frame (nothing after a close is forwarded).
    pub close: bool,
    /// The frame after them declares a payload over the limit.
    pub oversized: bool,
}

/// Finds the whole frames at the start of `buf`, stopping after a close frame or before a
/// frame whose payload exceeds `max_payload`. Reserves room in `buf` for a partly received
/// frame, so the next read can complete it.
pub fn scan(buf: &mut bytes::BytesMut, max_payload: u64) -> Scan {
    let mut ready = 0usize;
    while let Some(header) = FrameHeader::parse(&buf[ready..]) {
        if header.payload_len > max_payload {
            return Scan {
                ready,
                close: false,
                oversized: true,
            };
        }
        let len = header.frame_len() as usize;
        let have = buf.len() - ready;
        if have < len {
            buf.reserve(len - have);
            break;
        }
        ready += len;
        if header.opcode == OP_CLOSE {
            return Scan {
                ready,
                close: true,
                oversized: false,
            };
        }
    }
    Scan {
        ready,
        ..Scan::default()
    }
}

/// Decodes the frames of a chunk of whole frames (as relayed): each header with its payload,
/// still masked if it was.
pub fn frames(chunk: &[u8]) -> impl Iterator<Item = (FrameHeader, &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let header = FrameHeader::parse(&chunk[at..])?;
        let start = at + header.header_len;
        let end = start.checked_add(usize::try_from(header.payload_len).ok()?)?;
        let payload = chunk.get(start..end)?;
        at = end;
        Some((header, payload))
    })
}

/// XORs `payload` with the masking key, starting at key offset `offset` (masking and
/// unmasking are the same operation).
pub fn apply_mask(payload: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut key = mask;
    key.rotate_left(offset % 4);
    let word = u32::from_ne_bytes(key);
    let mut chunks = payload.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let v = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i];
    }
}

/// Encodes a single final frame, masked with `mask` when given (frames the proxy sends to the
/// upstream must be masked, frames to the client must not).
pub fn encode(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | (opcode & 0x0f));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let start = out.len() + if mask.is_some() { 4 } else { 0 };
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

/// The payload of a close frame: the code, big-endian, then the UTF-8 reason (cut to fit the
/// 125-byte limit of control frames at a character boundary).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(&reason.as_bytes()[..end]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_every_length_form_parse_back() {
        for len in [0usize, 1, 125, 126, 300, 65535, 65536, 70000] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let payload = vec![7u8; len];
                let frame = encode(OP_BINARY, &payload, mask);
                let header = FrameHeader::parse(&frame).unwrap();
                assert_eq!(header.payload_len, len as u64);
                assert_eq!(header.frame_len(), frame.len() as u64);
                assert_eq!(header.mask, mask);
                assert!(header.fin);
                // Any strict prefix of the header is "not yet".
                for cut in 0..header.header_len {
                    assert_eq!(FrameHeader::parse(&frame[..cut]), None);
                }
                let mut body = frame[header.header_len..].to_vec();
                if let Some(key) = mask {
                    apply_mask(&mut body, key, 0);
                }
                assert_eq!(body, payload);
            }
        }
    }

    #[test]
    fn masking_at_an_offset_matches_masking_from_the_start() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let data: Vec<u8> = (0..37).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut parts = data.clone();
        let (a, b) = parts.split_at_mut(5);
        apply_mask(a, key, 0);
        apply_mask(b, key, 5);
        assert_eq!(parts, whole);
    }

    #[test]
    fn close_reasons_are_cut_at_a_character_boundary() {
        let long = "é".repeat(100);
        let payload = close_payload(1001, &long);
        assert!(payload.len() <= 125);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
        assert_eq!(&payload[..2], &1001u16.to_be_bytes());
    }
}
