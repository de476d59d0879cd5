//! A cassette turned into a script: the client frames to expect and the server frames to send,
//! each server frame with its recorded delay after the frame it followed.

use wiretape_fixtures::cassette::{Cassette, End, Frame, Kind, Open, Sender};

/// One step of a replay.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// A frame the client is expected to send.
    Client {
        /// Its 1-based number among the cassette's frames (as reported in diffs).
        number: usize,
        /// The recorded frame.
        frame: Frame,
    },
    /// A frame to send `after_ms` (recorded) after the previous step happened.
    Server {
        number: usize,
        after_ms: u64,
        frame: Frame,
    },
}

/// A cassette ready to replay.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Script {
    /// The cassette's file name, for messages.
    pub name: String,
    pub open: Open,
    pub steps: Vec<Step>,
    pub end: Option<End>,
}

impl Script {
    /// The replayable steps of a cassette. Pings and pongs are left out (each side's WebSocket
    /// layer answers them), and so is everything from the client's close on: the client
    /// closing ends the replay.
    pub(crate) fn from_cassette(cassette: &Cassette) -> Self {
        let mut steps = Vec::with_capacity(cassette.frames.len());
        let mut previous_ms = 0;
        for (i, frame) in cassette.frames.iter().enumerate() {
            let after_ms = frame.ms.saturating_sub(previous_ms);
            previous_ms = frame.ms;
            let number = i + 1;
            match (frame.from, frame.kind) {
                (_, Kind::Ping | Kind::Pong) => {}
                // The client closing ends the replay; what the server sent after it (its close
                // reply) is the WebSocket layer's answer, not a step.
                (Sender::Client, Kind::Close) => break,
                (Sender::Client, _) => steps.push(Step::Client {
                    number,
                    frame: frame.clone(),
                }),
                (Sender::Server, _) => steps.push(Step::Server {
                    number,
                    after_ms,
                    frame: frame.clone(),
                }),
            }
        }
        Self {
            name: cassette
                .path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            open: cassette.open.clone(),
            steps,
            end: cassette.end.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiretape_fixtures::cassette::Frame;

    #[test]
    fn server_frames_keep_their_delay_after_the_frame_they_followed() {
        let frame =
            |ms, from, kind, text: &str| Frame::from_payload(ms, from, kind, text.as_bytes());
        let cassette = Cassette {
            path: "x/tutorial.jsonl".into(),
            open: Open::new(1, "/ws_api/account/1/messaging/consumer?v=3"),
            frames: vec![
                frame(5, Sender::Server, Kind::Text, "{\"hello\":1}"),
                frame(100, Sender::Client, Kind::Text, "{\"id\":1}"),
                frame(130, Sender::Server, Kind::Text, "{\"reqId\":\"1\"}"),
                frame(140, Sender::Client, Kind::Ping, ""),
                frame(1140, Sender::Server, Kind::Text, "{\"n\":1}"),
                frame(2000, Sender::Client, Kind::Close, ""),
                frame(2001, Sender::Server, Kind::Close, ""),
            ],
            exchanges: Vec::new(),
            end: None,
            faults: Vec::new(),
            complete: false,
        };
        let script = Script::from_cassette(&cassette);
        assert_eq!(script.name, "tutorial.jsonl");
        let shape: Vec<_> = script
            .steps
            .iter()
            .map(|s| match s {
                Step::Client { number, .. } => ('c', *number, 0),
                Step::Server {
                    number, after_ms, ..
                } => ('s', *number, *after_ms),
            })
            .collect();
        assert_eq!(
            shape,
            vec![('s', 1, 5), ('c', 2, 0), ('s', 3, 30), ('s', 5, 1000)]
        );
    }
}
