//! The accept loop every keyroute server runs.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// How long accepting pauses after an error that is not about one connection.
const BACK_OFF: Duration = Duration::from_millis(100);

/// Whether an accept error concerns one connection only (the listener is fine).
fn one_connection(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Accepts on `listener` until `stop` completes, giving each connection to `hand`. An error
/// about one connection (gone before it was taken) is skipped; any other (out of file
/// descriptors, most likely) is logged and followed by a short pause, so that running
/// connections can close some, and accepting goes on.
pub async fn accept_until(
    listener: &TcpListener,
    stop: impl Future<Output = ()>,
    mut hand: impl FnMut(TcpStream, SocketAddr),
) {
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, remote)) => hand(tcp, remote),
            Err(error) if one_connection(&error) => {}
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(BACK_OFF).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn hands_each_connection_over_until_stopped() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (seen, mut taken) = tokio::sync::mpsc::unbounded_channel();
        let accepting = tokio::spawn(async move {
            accept_until(
                &listener,
                async {
                    let _ = stopped.await;
                },
                |tcp, remote| seen.send((tcp.peer_addr().unwrap(), remote)).unwrap(),
            )
            .await;
        });
        let mut clients = Vec::new();
        for _ in 0..3 {
            let client = TcpStream::connect(addr).await.unwrap();
            let (peer, remote) = taken.recv().await.unwrap();
            assert_eq!(peer, client.local_addr().unwrap());
            assert_eq!(remote, peer);
            clients.push(client);
        }
        stop.send(()).unwrap();
        accepting.await.unwrap();
        assert!(
            taken.recv().await.is_none(),
            "the loop ended and dropped its hand"
        );
    }
}
