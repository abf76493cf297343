use vigil_core::ports::StoreError;

use super::*;

fn count(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("SELECT count(*) FROM items", [], |r| r.get(0))
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

fn insert(conn: &Connection, sk: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO items (pk, sk, version, body) VALUES ('p', ?1, 1, '{}')",
        [sk],
    )
    .map(drop)
    .map_err(|e| StoreError::Unavailable(e.to_string()))
}

#[tokio::test]
async fn writes_past_the_queue_bound_are_refused_at_once_and_the_rest_commit() {
    /// Polls a write once: enough to hand it to the writer's queue.
    async fn submit<F: std::future::Future + Unpin>(write: &mut F) {
        let _ = tokio::time::timeout(Duration::ZERO, write).await;
    }
    // GIVEN a writer busy with a write that waits for the test, and room for two more
    let db = Database::open_with_queue(None, 2).unwrap();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    let mut busy = Box::pin(db.write(move |conn| {
        let _ = started_tx.send(());
        let _ = held.recv();
        insert(conn, "busy")
    }));
    submit(&mut busy).await;
    started.recv().unwrap();

    // WHEN three more writes arrive while it works
    let mut a = Box::pin(db.write(|conn| insert(conn, "a")));
    submit(&mut a).await;
    let mut b = Box::pin(db.write(|conn| insert(conn, "b")));
    submit(&mut b).await;
    let refused = tokio::time::timeout(Duration::from_secs(30), db.write(|conn| insert(conn, "c")))
        .await
        .expect("refused at once, not queued");

    // THEN the one past the bound is refused as unavailable, without waiting
    assert!(
        matches!(&refused, Err(StoreError::Unavailable(m)) if m.contains("try again")),
        "{refused:?}"
    );

    // AND once the writer is free, the others commit
    release.send(()).unwrap();
    assert_eq!(busy.await, Ok(()));
    assert_eq!(a.await, Ok(()));
    assert_eq!(b.await, Ok(()));
    assert_eq!(db.read(count).await, Ok(3));
}

#[tokio::test]
async fn a_write_that_breaks_its_promise_to_fail_clean_leaves_nothing_behind() {
    // GIVEN an in-memory database
    let db = Database::open(None).unwrap();

    // WHEN work without a savepoint changes a row and then fails
    let broken = db
        .write_fails_clean(|conn| {
            insert(conn, "half")?;
            Err::<(), _>(StoreError::VersionConflict)
        })
        .await;

    // THEN its caller is told the store failed, and the row is not there
    assert!(
        matches!(broken, Err(StoreError::Unavailable(_))),
        "{broken:?}"
    );
    assert_eq!(db.read(count).await, Ok(0));
}

#[tokio::test]
async fn work_that_fails_clean_or_in_its_savepoint_spares_the_rest_of_the_batch() {
    // GIVEN an in-memory database
    let db = Database::open(None).unwrap();

    // WHEN, together, one write fails before changing anything, one fails after a change
    // in its own savepoint, and one succeeds
    let (clean, guarded, fine) = tokio::join!(
        db.write_fails_clean(|_| Err::<(), _>(StoreError::AlreadyExists)),
        db.write(|conn| {
            insert(conn, "undone")?;
            Err::<(), _>(StoreError::VersionConflict)
        }),
        db.write_fails_clean(|conn| insert(conn, "kept")),
    );

    // THEN each caller gets its own answer, and only the successful row stands
    assert_eq!(clean, Err(StoreError::AlreadyExists));
    assert_eq!(guarded, Err(StoreError::VersionConflict));
    assert_eq!(fine, Ok(()));
    assert_eq!(db.read(count).await, Ok(1));
}
