//! Token buckets shared by every process that serves a tenant: the bucket lives in the item
//! store, so Lambda instances (and `vigil serve` beside the CLI) draw from one budget.
//!
//! The refill arithmetic is a pure function ([`take`]). [`SharedBucket`] keeps it in the store
//! and amortizes the cost: each process reserves a tenth of a second's worth of tokens at a time
//! (one conditional write), remembers the version it wrote so the next reservation needs no read
//! unless another process wrote since, and remembers when an empty bucket has its next token so a
//! flood past the limit is refused without touching the store at all.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::json::to_json;
use crate::ports::{Item, ItemStore, Key, PutCondition, StoreError};
use crate::{Error, Result};

/// How fast a bucket refills and how much it holds. Built from non-zero numbers only, so a
/// bucket always refills and always holds at least one token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    tokens_per_second: f64,
    burst: f64,
}

impl Rate {
    /// `per_minute` tokens a minute, holding at most a minute's worth.
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        Self {
            tokens_per_second: f64::from(per_minute.get()) / 60.0,
            burst: f64::from(per_minute.get()),
        }
    }

    /// `per_second` tokens a second, holding at most `burst`.
    pub fn per_second(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            tokens_per_second: f64::from(per_second.get()),
            burst: f64::from(burst.get()),
        }
    }

    /// Tokens a process reserves at once: a tenth of a second's worth, between 1 and
    /// [`MAX_RESERVATION`].
    fn reservation(self) -> u32 {
        (self.tokens_per_second / 10.0).clamp(1.0, f64::from(MAX_RESERVATION)) as u32
    }
}

/// Most tokens one process holds back from the others at a time: however many processes serve a
/// tenant, together they can exceed its burst by at most this much each.
pub const MAX_RESERVATION: u32 = 100;

/// How long reserved tokens stay usable before they lapse. They were taken from the bucket when
/// reserved, so this does not change what the rate allows; it only bounds how long an idle
/// process keeps its share from the others.
const RESERVATION_LIFETIME_MS: i64 = 30_000;

/// A bucket as stored: its tokens at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketState {
    pub tokens: f64,
    pub at: DateTime<Utc>,
}

/// What taking tokens from a bucket came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Take {
    /// `got` tokens (1 or more) were taken; the bucket is now `next`.
    Took { got: u32, next: BucketState },
    /// Not one whole token; the next is there after `wait`.
    Empty { wait: Duration },
}

/// Takes up to `wanted` tokens from a bucket last seen as `state` (None: never used, so full),
/// refilled at `rate` until `now`. A clock that went back refills nothing.
pub fn take(state: Option<&BucketState>, rate: Rate, now: DateTime<Utc>, wanted: u32) -> Take {
    let (tokens, at) = match state {
        Some(state) => {
            let elapsed = (now - state.at).num_milliseconds().max(0) as f64 / 1000.0;
            let refilled = (state.tokens + elapsed * rate.tokens_per_second).min(rate.burst);
            (refilled, now.max(state.at))
        }
        None => (rate.burst, now),
    };
    let got = tokens.floor().min(f64::from(wanted.max(1)));
    if got < 1.0 {
        let missing = 1.0 - tokens.max(0.0);
        let wait_ms = (missing / rate.tokens_per_second * 1000.0).ceil() as i64;
        return Take::Empty {
            wait: Duration::milliseconds(wait_ms.max(1)),
        };
    }
    Take::Took {
        got: got as u32,
        next: BucketState {
            tokens: tokens - got,
            at,
        },
    }
}

/// Whether one request may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Granted,
    /// The bucket is empty; its next token is there after `retry_after`.
    Refused {
        retry_after: Duration,
    },
}

/// Whole seconds (at least 1) covering `wait`: what a `Retry-After` header says.
pub fn whole_seconds(wait: Duration) -> u64 {
    let ms = wait.num_milliseconds().max(1) as u64;
    ms.div_ceil(1000)
}

/// What this process knows of one holder's bucket.
#[derive(Debug, Default)]
struct Local {
    /// Tokens reserved from the stored bucket and not used yet, usable until `until`.
    reserved: u32,
    until: Option<DateTime<Utc>>,
    /// The bucket had no token before this instant (when this process last looked).
    empty_until: Option<DateTime<Utc>>,
    /// The stored bucket as this process last wrote or read it, with its version.
    seen: Option<(BucketState, u64)>,
}

/// One token bucket per holder (a tenant), kept in the item store under `key_of(holder)`.
pub struct SharedBucket {
    store: Arc<dyn ItemStore>,
    rate: Rate,
    key_of: fn(&str) -> Key,
    /// Per holder, so one holder's store round trip never holds up another's requests.
    holders: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Local>>>>,
}

/// Tries of a reservation that lost a race with another process before giving up.
const RESERVE_TRIES: usize = 8;

impl SharedBucket {
    pub fn new(store: Arc<dyn ItemStore>, rate: Rate, key_of: fn(&str) -> Key) -> Self {
        Self {
            store,
            rate,
            key_of,
            holders: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token of `holder`'s bucket at `now`, from this process's reservation when it
    /// has one, else by reserving more from the store.
    pub async fn admit(&self, holder: &str, now: DateTime<Utc>) -> Result<Admission> {
        let local = {
            let mut holders = self.holders.lock().unwrap_or_else(|p| p.into_inner());
            holders.entry(holder.to_owned()).or_default().clone()
        };
        let mut local = local.lock().await;
        if local.reserved > 0 && local.until.is_some_and(|until| now < until) {
            local.reserved -= 1;
            return Ok(Admission::Granted);
        }
        if let Some(until) = local.empty_until
            && now < until
        {
            return Ok(Admission::Refused {
                retry_after: until - now,
            });
        }
        match self.reserve(holder, &mut local, now).await? {
            Take::Took { got, .. } => {
                local.reserved = got - 1;
                local.until = Some(now + Duration::milliseconds(RESERVATION_LIFETIME_MS));
                local.empty_until = None;
                Ok(Admission::Granted)
            }
            Take::Empty { wait } => {
                local.reserved = 0;
                local.empty_until = Some(now + wait);
                Ok(Admission::Refused { retry_after: wait })
            }
        }
    }

    /// Takes a reservation's worth from the stored bucket: from the version this process last
    /// saw when it has one (no read), reading again only when another process wrote since.
    async fn reserve(&self, holder: &str, local: &mut Local, now: DateTime<Utc>) -> Result<Take> {
        let key = (self.key_of)(holder);
        for _ in 0..RESERVE_TRIES {
            let (state, condition) = match local.seen.take() {
                Some((state, version)) => (Some(state), PutCondition::VersionEquals(version)),
                None => match self.store.get(&key).await? {
                    Some(item) => (
                        Some(item.parse::<BucketState>()?),
                        PutCondition::VersionEquals(item.version),
                    ),
                    None => (None, PutCondition::Absent),
                },
            };
            let taken = take(state.as_ref(), self.rate, now, self.rate.reservation());
            let Take::Took { next, .. } = &taken else {
                // Other processes only ever take tokens, so a bucket this process saw empty is.
                if let (Some(state), PutCondition::VersionEquals(version)) = (state, condition) {
                    local.seen = Some((state, version));
                }
                return Ok(taken);
            };
            match self
                .store
                .put(Item::new(key.clone(), to_json(next)?), condition)
                .await
            {
                Ok(version) => {
                    local.seen = Some((next.clone(), version));
                    return Ok(taken);
                }
                Err(StoreError::AlreadyExists | StoreError::VersionConflict) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::Unavailable(
            "a rate bucket is too busy; try again".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("a valid instant")
    }

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    #[test]
    fn a_new_bucket_is_full_and_gives_at_most_what_is_wanted() {
        let rate = Rate::per_second(nz(10), nz(20));
        assert_eq!(
            take(None, rate, at(0), 5),
            Take::Took {
                got: 5,
                next: BucketState {
                    tokens: 15.0,
                    at: at(0)
                }
            }
        );
        // Wanting nothing still takes the one token a request needs.
        assert!(matches!(
            take(None, rate, at(0), 0),
            Take::Took { got: 1, .. }
        ));
    }

    #[test]
    fn a_bucket_refills_at_its_rate_up_to_its_burst() {
        let rate = Rate::per_second(nz(10), nz(20));
        let empty = BucketState {
            tokens: 0.0,
            at: at(0),
        };
        // Half a second refills 5 tokens.
        let half = at(0) + Duration::milliseconds(500);
        assert!(matches!(
            take(Some(&empty), rate, half, 100),
            Take::Took { got: 5, .. }
        ));
        // An hour refills no more than the burst.
        assert!(matches!(
            take(Some(&empty), rate, at(3600), 100),
            Take::Took { got: 20, .. }
        ));
    }

    #[test]
    fn an_empty_bucket_says_when_its_next_token_is_there() {
        let rate = Rate::per_second(nz(2), nz(2));
        let state = BucketState {
            tokens: 0.25,
            at: at(0),
        };
        // 0.75 of a token at 2 a second: 375 ms.
        assert_eq!(
            take(Some(&state), rate, at(0), 1),
            Take::Empty {
                wait: Duration::milliseconds(375)
            }
        );
        // One per minute: a minute after the last token was taken.
        let slow = Rate::per_minute(nz(1));
        let drained = BucketState {
            tokens: 0.0,
            at: at(0),
        };
        assert_eq!(
            take(Some(&drained), slow, at(0), 1),
            Take::Empty {
                wait: Duration::seconds(60)
            }
        );
    }

    #[test]
    fn a_clock_that_went_back_refills_nothing_and_keeps_the_later_instant() {
        let rate = Rate::per_second(nz(10), nz(20));
        let state = BucketState {
            tokens: 3.0,
            at: at(10),
        };
        assert_eq!(
            take(Some(&state), rate, at(5), 10),
            Take::Took {
                got: 3,
                next: BucketState {
                    tokens: 0.0,
                    at: at(10)
                }
            }
        );
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(whole_seconds(Duration::milliseconds(1)), 1);
        assert_eq!(whole_seconds(Duration::milliseconds(1000)), 1);
        assert_eq!(whole_seconds(Duration::milliseconds(1001)), 2);
        assert_eq!(whole_seconds(Duration::zero()), 1);
    }

    #[test]
    fn a_reservation_is_a_tenth_of_a_seconds_worth_within_bounds() {
        assert_eq!(Rate::per_minute(nz(6_000)).reservation(), 10);
        assert_eq!(Rate::per_minute(nz(60)).reservation(), 1);
        assert_eq!(
            Rate::per_second(nz(50_000), nz(1)).reservation(),
            MAX_RESERVATION
        );
    }
}
