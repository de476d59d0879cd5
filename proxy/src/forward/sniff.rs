//! What a client speaks inside a `CONNECT`: TLS (an `https://` or `wss://` target) or plain
//! HTTP (`ws://` through `wscat --proxy`, whose proxy agent tunnels every URL). The first byte
//! decides, as in mitmproxy: a TLS record starts with 0x16 (handshake).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};

/// The first byte of a TLS ClientHello record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Reads the client's first byte; returns whether it starts TLS and the stream with that byte
/// put back in front. `None` when the client closed without sending anything.
pub(super) async fn sniff<I: AsyncRead + Unpin>(
    mut io: I,
) -> io::Result<Option<(bool, Prefixed<I>)>> {
    let mut first = [0u8; 1];
    if io.read(&mut first).await? == 0 {
        return Ok(None);
    }
    Ok(Some((
        first[0] == TLS_HANDSHAKE,
        Prefixed {
            prefix: Some(first[0]),
            inner: io,
        },
    )))
}

/// A stream with one byte already read put back in front of it.
pub(super) struct Prefixed<I> {
    prefix: Option<u8>,
    inner: I,
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(byte) = this.prefix {
            if buf.remaining() > 0 {
                buf.put_slice(&[byte]);
                this.prefix = None;
                return Poll::Ready(Ok(()));
            }
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
