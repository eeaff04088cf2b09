//! The API relay: every connection accepted inside the task is joined, byte for byte
//! in both directions, to a new connection to berth's API made from the host's
//! namespace. Nothing is parsed or rewritten, so a SigV4 signature over the `Host` the
//! client used (`169.254.170.2:51680`) still holds at the server.

use std::net::SocketAddr;

use tokio::io::copy_bidirectional;
use tokio::net::TcpStream;
use tracing::debug;

/// Joins `client` to a new connection to `api` until either side closes.
pub(crate) async fn pipe(mut client: TcpStream, api: SocketAddr) {
    let mut upstream = match TcpStream::connect(api).await {
        Ok(s) => s,
        Err(e) => {
            // The client sees its connection closed, as with an API that is down.
            debug!(%api, error = %e, "relay: cannot reach the API");
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    if let Err(e) = copy_bidirectional(&mut client, &mut upstream).await {
        debug!(%api, error = %e, "relay: connection ended");
    }
}
