//! What a client speaks inside a `CONNECT`: TLS (an `https://` or `wss://` target) or plain
//! HTTP (`ws://` through `wscat --proxy`, whose proxy agent tunnels every URL). The first byte
//! decides, as in mitmproxy: a TLS record starts with 0x16 (handshake).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::either::Either;

/// The first byte of a TLS ClientHello record.
const TLS_HANDSHAKE: u8 = 0x16;

/// The client's side of a tunnel: hyper hands back the socket it was given (and what it had
/// read past the `CONNECT` head) so the relay runs on the socket itself, as in reverse mode,
/// not on hyper's boxed upgraded stream.
pub(super) fn unwrap(client: Upgraded) -> Either<Prefixed<TcpStream>, TokioIo<Upgraded>> {
    match client.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => Either::Left(Prefixed {
            prefix: parts.read_buf,
            inner: parts.io.into_inner(),
        }),
        Err(client) => Either::Right(TokioIo::new(client)),
    }
}

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
            prefix: Bytes::copy_from_slice(&first),
            inner: io,
        },
    )))
}

/// A stream with bytes already read put back in front of it.
pub(super) struct Prefixed<I> {
    prefix: Bytes,
    inner: I,
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() && buf.remaining() > 0 {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
            return Poll::Ready(Ok(()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt as _;

    #[tokio::test]
    async fn the_first_byte_decides_and_is_read_again() {
        for (sent, tls) in [(&b"\x16\x03\x01rest"[..], true), (b"GET / HTTP/1.1", false)] {
            let (mut client, server) = tokio::io::duplex(64);
            client.write_all(sent).await.unwrap();
            drop(client);
            let (is_tls, mut io) = sniff(server).await.unwrap().unwrap();
            assert_eq!(is_tls, tls);
            let mut all = Vec::new();
            io.read_to_end(&mut all).await.unwrap();
            assert_eq!(all, sent);
        }
        let (client, server) = tokio::io::duplex(64);
        drop(client);
        assert!(sniff(server).await.unwrap().is_none());
    }
}
