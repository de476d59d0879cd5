//! What the relay tells about the frames it forwarded: the [`Tap`] hook.

use std::future::Future;
use std::time::Duration;

use wiretape_fixtures::fault::Fired;

use super::direction::{Direction, Peer};

/// Sees every chunk of complete frames the relay forwarded. The recorder implements it.
pub trait Tap: Clone + Send + 'static {
    /// Called after `frames` (one or more whole frames, raw as on the wire) going `direction`
    /// were written to their destination; `at` is the time since the connection opened. The
    /// slice is the relay's read buffer: copy what you keep. Awaiting here applies
    /// backpressure to that direction.
    fn relayed(
        &mut self,
        direction: Direction,
        at: Duration,
        frames: &[u8],
    ) -> impl Future<Output = ()> + Send;

    /// Called when a fault rule (`--fault`) fired, `at` after the connection opened, doing
    /// `fired` to the peer `to`: before the faulted frame would have been written, or before
    /// the close or drop is done. Does nothing by default.
    fn fault(&mut self, at: Duration, fired: &Fired, to: Peer) -> impl Future<Output = ()> + Send {
        let _ = (at, fired, to);
        async {}
    }
}

/// A tap that looks at nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTap;

impl Tap for NoTap {
    async fn relayed(&mut self, _: Direction, _: Duration, _: &[u8]) {}
}
