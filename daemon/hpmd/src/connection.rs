//! A client's stream, counted while it lives. hyper hands the stream of a
//! WebSocket connection on to the socket's own task after the upgrade, so
//! the end of `serve_with_graceful_shutdown` is not the end of the
//! connection: the count drops when the stream does. The daemon is not
//! idle while a client (an editor's event subscription, an image build
//! waiting for its report) is connected.

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;

use crate::daemon::Daemon;

pub struct Counted {
    stream: UnixStream,
    daemon: Arc<Daemon>,
}

impl Counted {
    pub fn new(stream: UnixStream, daemon: Arc<Daemon>) -> Counted {
        daemon.connections.fetch_add(1, Ordering::SeqCst);
        Counted { stream, daemon }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.daemon.connections.fetch_sub(1, Ordering::SeqCst);
        self.daemon.touch();
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
