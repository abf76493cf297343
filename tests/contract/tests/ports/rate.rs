//! The shared token bucket (`vigil_core::rate`) over the item store: two processes draw from one
//! budget, and the store is asked once per reservation, not once per request.

use std::num::NonZeroU32;

use chrono::{DateTime, Duration, Utc};
use vigil_contract::Backend;
use vigil_core::ports::RequestCounts;
use vigil_core::rate::{Admission, Rate, SharedBucket};
use vigil_core::table_keys;

vigil_contract::contract!(
    two_processes_share_one_budget_and_refill_together,
    requests_cost_one_write_per_reservation_and_a_flood_past_the_limit_costs_nothing,
);

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn at(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::milliseconds(millis)
}

/// 100 a second (so a process reserves 10 at a time), at most 20 at once.
fn bucket(b: &Backend) -> SharedBucket {
    SharedBucket::new(
        b.ports.store.clone(),
        Rate::per_second(nz(100), nz(20)),
        table_keys::ingest_rate,
    )
}

async fn granted(bucket: &SharedBucket, holder: &str, now: DateTime<Utc>, n: usize) -> usize {
    let mut granted = 0;
    for _ in 0..n {
        if bucket.admit(holder, now).await.unwrap() == Admission::Granted {
            granted += 1;
        }
    }
    granted
}

async fn two_processes_share_one_budget_and_refill_together(b: &Backend) {
    // GIVEN two processes over one store
    let (first, second) = (bucket(b), bucket(b));
    // WHEN the first asks for 15 tokens at one instant, then the second, then the first again
    let by_first = granted(&first, "acme", at(0), 15).await;
    let by_second = granted(&second, "acme", at(0), 15).await;
    let by_first_again = granted(&first, "acme", at(0), 15).await;
    // THEN the first got 15 and reserved the bucket's last 5, which it used later: together they
    // got the burst, 20, and no more
    assert_eq!((by_first, by_second, by_first_again), (15, 0, 5));
    // AND each is refused, saying when the next token is there (1/100 s at 100 a second)
    for process in [&first, &second] {
        assert_eq!(
            process.admit("acme", at(0)).await.unwrap(),
            Admission::Refused {
                retry_after: Duration::milliseconds(10)
            }
        );
    }
    // AND another holder has its own bucket
    assert_eq!(granted(&first, "globex", at(0), 20).await, 20);
    // WHEN a second passes (100 tokens refilled, held to 20)
    let later = granted(&first, "acme", at(1_000), 30).await
        + granted(&second, "acme", at(1_000), 30).await;
    // THEN the two get the burst again, together
    assert_eq!(later, 20);
}

async fn requests_cost_one_write_per_reservation_and_a_flood_past_the_limit_costs_nothing(
    b: &Backend,
) {
    let process = bucket(b);
    let spent = |before: &RequestCounts| {
        let since = b.ports.request_counts().since(before);
        (since.reads, since.writes)
    };
    // WHEN a process takes its first token
    let before = b.ports.request_counts();
    assert_eq!(granted(&process, "acme", at(0), 1).await, 1);
    // THEN it read the bucket once and reserved 10 with one write
    assert_eq!(spent(&before), (1, 1));
    // WHEN it takes the other 9 of its reservation, THEN the store is not asked
    let before = b.ports.request_counts();
    assert_eq!(granted(&process, "acme", at(0), 9).await, 9);
    assert_eq!(spent(&before), (0, 0));
    // WHEN it reserves the next 10, THEN one write and no read (it knows the version it wrote)
    let before = b.ports.request_counts();
    assert_eq!(granted(&process, "acme", at(0), 10).await, 10);
    assert_eq!(spent(&before), (0, 1));
    // WHEN it floods the empty bucket with 100 more, THEN all are refused at no cost
    let before = b.ports.request_counts();
    assert_eq!(granted(&process, "acme", at(0), 100).await, 0);
    assert_eq!(spent(&before), (0, 0));
    // WHEN the next token is due, THEN it is granted with one write
    let before = b.ports.request_counts();
    assert_eq!(granted(&process, "acme", at(10), 1).await, 1);
    assert_eq!(spent(&before), (0, 1));
}
