//! HTTPS: TLS handshakes run in tasks of their own (a slow client delays only
//! itself), and finished connections are handed to axum through a
//! [`Listener`], together with the client certificate they presented.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use urbis_security::tls::{self, TlsAcceptor, TlsStream};

/// A client that does not finish its handshake in time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for axum.
const READY: usize = 64;

/// The far end of an HTTPS connection.
#[derive(Clone, Debug)]
pub struct TlsPeer {
    pub addr: SocketAddr,
    /// DER of the client certificate, verified against the client CA.
    pub certificate: Option<Arc<Vec<u8>>>,
}

impl Connected<IncomingStream<'_, TlsListener>> for TlsPeer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, TlsPeer)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accept TCP connections on `listener` and complete their handshakes.
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(READY);
        tokio::spawn(accept_loop(listener, acceptor, tx));
        Ok(TlsListener { ready, local })
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, TlsPeer)>,
) {
    loop {
        let accepted = tokio::select! {
            // axum stopped listening (shutdown)
            _ = ready.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(%err, "HTTPS accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, ready) = (acceptor.clone(), ready.clone());
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let certificate = tls::peer_certificate(&tls).map(Arc::new);
                    let _ = ready.send((tls, TlsPeer { addr, certificate })).await;
                }
                Ok(Err(err)) => tracing::info!(%addr, %err, "TLS handshake failed"),
                Err(_) => tracing::info!(%addr, "TLS handshake timed out"),
            }
        });
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = TlsPeer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // the accept loop ended: nothing more will come
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(TlsPeer {
            addr: self.local,
            certificate: None,
        })
    }
}
