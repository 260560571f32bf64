//! Delivery policy: where a beacon goes, how it travels, and what becomes of it when the endpoint
//! does not acknowledge it. The core decides and tells the shell with every beacon
//! ([`Delivery`], through [`crate::host::Host::send`]); the shell carries it out and reads
//! nothing back out of the wire text: `src/host.js` writes a first-party beacon that may wait in
//! storage there before sending it (write-ahead, removed on a 2xx), and hands one that failed to
//! the outbox, `www/outbox.js`, which retries, bounds and expires what waits.
//!
//! In scope: the default endpoint, GET or POST, which beacons may wait in storage (none under
//! Limited Data Use), and the outbox's storage key prefix and age limit.

/// Meta's default collection endpoint.
pub const META_ENDPOINT: &str = "https://www.facebook.com/tr/";

/// A URL (endpoint + `?` + query) at or over this many characters goes as a POST body.
pub const MAX_GET_URL: usize = 2048;

/// The prefix of the outbox's `localStorage` keys: one key per waiting beacon, `<prefix><time>
/// <random>` (no identifier; never sent). Another prefix would strand what earlier pages left.
pub const OUTBOX_KEY: &str = "_fbq_ob.";

/// A beacon older than this many days is dropped from the outbox instead of retried: 7, the
/// window within which the collector relays an event to the Conversions API, which refuses older
/// ones. One that may already have arrived (a send without an answer) is replayed only within the
/// collector's 48-hour deduplication window (`www/outbox.js`, `DEDUP`): past it, a replay could be
/// stored twice.
pub const OUTBOX_MAX_AGE_DAYS: u32 = 7;

/// How a beacon travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A GET of `endpoint?query` that survives the page unloading (`fetch` with `keepalive`).
    Get,
    /// A CORS-simple POST of the query as an `application/x-www-form-urlencoded` body
    /// (`navigator.sendBeacon`), for URLs too long for a GET.
    Post,
}

impl Transport {
    /// The `rqm` value announcing this transport on the wire.
    pub fn rqm(self) -> &'static str {
        match self {
            Transport::Get => "FGET",
            Transport::Post => "SB",
        }
    }
}

/// Where a beacon that the endpoint did not acknowledge may wait for its retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// In the page's memory only: lost when the page goes.
    Memory,
    /// In `localStorage` under [`OUTBOX_KEY`] (consent permitting), written before it is sent,
    /// for the next page or tab, until acknowledged or [`OUTBOX_MAX_AGE_DAYS`] old.
    Storage,
}

impl Keep {
    /// A beacon under Limited Data Use (limited consent, or the store's
    /// `dataProcessingOptions(['LDU'])`) is never written to storage; any other may be.
    pub fn for_beacon(ldu: bool) -> Keep {
        if ldu {
            Keep::Memory
        } else {
            Keep::Storage
        }
    }
}

/// What the shell is told with each beacon, besides where it goes and its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub transport: Transport,
    pub keep: Keep,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldu_keeps_a_beacon_out_of_storage() {
        assert_eq!(Keep::for_beacon(true), Keep::Memory);
        assert_eq!(Keep::for_beacon(false), Keep::Storage);
    }

    #[test]
    fn the_outbox_key_and_age_limit_are_decided_here() {
        // What src/host.js and www/outbox.js are given; pages already hold entries under it.
        assert_eq!(OUTBOX_KEY, "_fbq_ob.");
        // Seven days: Meta's Conversions API refuses events older than that.
        assert_eq!(OUTBOX_MAX_AGE_DAYS, 7);
        // A storage key prefix that no cookie or wire name of ours shares.
        assert!(OUTBOX_KEY.ends_with('.') && !OUTBOX_KEY.contains(['=', ';', '&']));
    }

    #[test]
    fn transports_announce_themselves() {
        assert_eq!(Transport::Get.rqm(), "FGET");
        assert_eq!(Transport::Post.rqm(), "SB");
    }
}
