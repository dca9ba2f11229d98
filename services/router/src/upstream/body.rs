//! Reading upstream bodies within bounds: a whole answer up to its cap (refused past it), an
//! error body up to a smaller cap (kept truncated, the rest unread), so no upstream can make
//! the router hold more than it chose to.

use keyroute_wire::error::WireError;

/// The largest whole (non-streamed) answer kept: images and long completions fit.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// The most of an error body or token answer read: a provider's error message fits.
pub const MAX_ERROR_BYTES: usize = 64 * 1024;

/// The whole body, refused once past `cap` (announced by `content-length` or as it arrives).
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    provider: &'static str,
) -> Result<Vec<u8>, WireError> {
    let too_large = || {
        WireError::malformed(
            provider,
            format!("the answer exceeded {} MiB", cap / (1024 * 1024)),
        )
    };
    let announced = response.content_length().unwrap_or(0);
    if usize::try_from(announced).map_or(true, |length| length > cap) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| WireError::truncated(provider, &format!("its end ({error})")))?
    {
        if body.len() + chunk.len() > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Up to `cap` bytes of the body, the rest left unread: enough of an error to say what it
/// was. A body that fails midway, or is still dripping at `deadline`, gives what came.
pub async fn read_prefix(
    mut response: reqwest::Response,
    cap: usize,
    deadline: tokio::time::Instant,
) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await {
        let room = cap - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= cap {
            break;
        }
    }
    body
}
