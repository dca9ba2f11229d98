//! Reading upstream bodies within bounds: a whole answer up to its cap (refused past it), an
//! error body up to a smaller cap (kept truncated, the rest unread), so no upstream can make
//! the router hold more than it chose to.

use bytes::Bytes;
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use keyroute_wire::error::WireError;

/// An upstream answer whose head arrived; its body is read as it comes.
pub type Response = http::Response<Incoming>;

/// The largest whole (non-streamed) answer kept: images and long completions fit.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// The most of an error body or token answer read: a provider's error message fits.
pub const MAX_ERROR_BYTES: usize = 64 * 1024;

/// The next bytes of `body` (trailers skipped), `None` at its end.
pub async fn next_chunk(body: &mut Incoming) -> Option<Result<Bytes, hyper::Error>> {
    loop {
        match body.frame().await? {
            Ok(frame) => match frame.into_data() {
                Ok(data) => return Some(Ok(data)),
                Err(_trailers) => continue,
            },
            Err(error) => return Some(Err(error)),
        }
    }
}

/// The whole body, refused once past `cap` (announced by `content-length` or as it arrives).
pub async fn read_capped(
    response: Response,
    cap: usize,
    provider: &'static str,
) -> Result<Vec<u8>, WireError> {
    let too_large = || {
        WireError::malformed(
            provider,
            format!("the answer exceeded {} MiB", cap / (1024 * 1024)),
        )
    };
    let mut body = response.into_body();
    let announced = body.size_hint().exact().unwrap_or(0);
    if usize::try_from(announced).map_or(true, |length| length > cap) {
        return Err(too_large());
    }
    let mut read = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    while let Some(chunk) = next_chunk(&mut body).await {
        let chunk =
            chunk.map_err(|error| WireError::truncated(provider, &format!("its end ({error})")))?;
        if read.len() + chunk.len() > cap {
            return Err(too_large());
        }
        read.extend_from_slice(&chunk);
    }
    Ok(read)
}

/// Up to `cap` bytes of the body, the rest left unread: enough of an error to say what it
/// was. A body that fails midway, or is still dripping at `deadline`, gives what came.
pub async fn read_prefix(
    response: Response,
    cap: usize,
    deadline: tokio::time::Instant,
) -> Vec<u8> {
    let mut body = response.into_body();
    let mut read = Vec::new();
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, next_chunk(&mut body)).await {
        let room = cap - read.len();
        read.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if read.len() >= cap {
            break;
        }
    }
    read
}
