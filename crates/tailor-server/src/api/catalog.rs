//! The catalog: upsert blocks as JSON lines, delete one.

use super::*;

/// Swaps in a new catalog for the serving package, indexed again (under the account's
/// admin lock, on a blocking thread: the index is built here, before the request is
/// answered, so the next event sees the new catalog).
pub(super) fn swap_catalog(acct: &Account, blocks: Vec<Arc<Block>>) {
    let live = acct.live.load_full();
    acct.live
        .store(Arc::new(live.with_catalog(Catalog::from_shared(blocks))));
}

/// `POST /v1/{account}/catalog`: upserts blocks (JSON lines). All or nothing: one block
/// that does not fit the content schema rejects the request with every diagnostic.
pub(crate) async fn upsert_catalog(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult {
    let acct = account(&state, &name)?;
    let bytes = axum::body::to_bytes(body, state.config.max_import_bytes)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("cannot read the body (max_import_bytes): {e}"),
            )
        })?;
    let text =
        String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::bad("the body is not UTF-8"))?;
    let _admin = acct.admin.lock().await;
    let state2 = Arc::clone(&state);
    let acct2 = Arc::clone(&acct);
    let (n, total) = blocking(move || {
        let live = acct2.live.load_full();
        let mut sources = SourceMap::new();
        let upserts = live
            .package()
            .parse_catalog(&mut sources, "body", &text)
            .map_err(|d| {
                ApiError::unprocessable(
                    "blocks do not fit the content schema",
                    d.render(&sources, false),
                )
            })?;
        let writes = upserts
            .blocks()
            .iter()
            .map(|b| Write::PutBlock {
                account: acct2.name.clone(),
                id: b.id().to_owned(),
                block: b.raw.clone(),
            })
            .collect();
        state2.store.apply(writes)?;
        // The blocks not upserted are shared with the serving catalog, not copied.
        let mut blocks: Vec<Arc<Block>> = live
            .catalog()
            .blocks()
            .iter()
            .filter(|b| upserts.get(b.id()).is_none())
            .cloned()
            .collect();
        blocks.extend(upserts.blocks().iter().cloned());
        let total = blocks.len();
        swap_catalog(&acct2, blocks);
        Ok((upserts.len(), total))
    })
    .await?;
    Ok(Json(json!({"upserted": n, "blocks": total})).into_response())
}

/// `DELETE /v1/{account}/catalog/{id}`.
pub(crate) async fn delete_block(
    State(state): State<Arc<AppState>>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult {
    let acct = account(&state, &name)?;
    let _admin = acct.admin.lock().await;
    let live = acct.live.load_full();
    if live.catalog().get(&id).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no block `{id}`"),
        ));
    }
    let state2 = Arc::clone(&state);
    let acct2 = Arc::clone(&acct);
    blocking(move || {
        state2.store.apply(vec![Write::DeleteBlock {
            account: acct2.name.clone(),
            id: id.clone(),
        }])?;
        let blocks = live
            .catalog()
            .blocks()
            .iter()
            .filter(|b| b.id() != id)
            .cloned()
            .collect();
        swap_catalog(&acct2, blocks);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
