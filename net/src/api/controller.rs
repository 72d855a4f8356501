//! A round trip to the active controller for requests answered item by item.

use crate::codes;
use crate::server::Ctx;
use myelin_replication::controller::{ControllerRequest, ControllerResponse};

/// The active controller's results for `request`, one per item asked (`items`); `take` picks
/// them out of the answer, or gives back an answer of another kind. Otherwise the error code
/// and message every item gets.
pub(crate) async fn results<T>(
    ctx: &Ctx,
    request: ControllerRequest,
    items: usize,
    take: impl FnOnce(ControllerResponse) -> Result<Vec<T>, ControllerResponse>,
) -> Result<Vec<T>, (i16, String)> {
    match ctx.shard.controller(request).await.map(take) {
        Ok(Ok(results)) if results.len() == items => Ok(results),
        Ok(Ok(results)) => Err((
            codes::UNKNOWN_SERVER_ERROR,
            format!("{} controller results for {items} items", results.len()),
        )),
        Ok(Err(other)) => Err((
            codes::UNKNOWN_SERVER_ERROR,
            format!("unexpected controller answer {other:?}"),
        )),
        Err(e) => Err((codes::controller(&e), e.to_string())),
    }
}
