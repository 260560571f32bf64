//! The relay's decisions, free of I/O, of the clock and of the store (as ureq-proto models HTTP/1.1):
//! a batch of event ids goes in, the Conversions API's verdict on each request goes in, actions come
//! out. The loop in [`super`] reads the batch, sends what [`Round::next_request`] names, hands the
//! [`Verdict`] to [`Round::answer`] and carries out the [`Action`]s. Time (`now_ms`) and
//! randomness (the backoff jitter) are passed in, so every decision is a table test that runs in
//! microseconds, and a PostgreSQL store can reuse it unchanged (it only sees `i64` ids).
//!
//! ```text
//!            Round::new(ids) ── next_request() ─> POST ids[range] ─> answer(verdict) ─> actions
//!                 ^                  ^                                        │
//!                 │                  └──────────── more to send ──────────────┤
//!                 └─ read again after Action::Done(delay) ────────────────────┘
//! ```
//!
//! **Bisection.** A 400 about the content ([`Verdict::Rejected`]) splits the chunk in halves,
//! depth-first, until the bad event stands alone; alone, it is marked failed with Meta's message.
//! Its cost is bounded, so that events crafted to be refused cannot spend Meta's rate limit
//! (issue #24): when Meta names the refused event ([`Verdict::Rejected::index`]) it fails at
//! once and the events on either side go on, two more requests at most; otherwise the search is a
//! binary search for the first refused event of the chunk (the right half of a refused chunk
//! whose left half Meta accepted is split without being sent whole), and once the event is found
//! alone, the halves it passed by go as one request; when it was found within [`BURST_GAP`]
//! events of the previous one (a burst), that request, if refused, first probes as many events
//! after it. A round of `b` events holding `N` refused ones thus takes at most `1 + 2·N`
//! requests when Meta names them, `1 + N·(⌈log2 b⌉ + 3)` otherwise, and about 2 per event of a
//! burst (`relay/tests/amplification.rs`), where plain bisection took up to
//! `1 + 2·N·⌈log2 b⌉` (2 per event of a burst). An event fails only on a refusal of a request that carried it alone or
//! that named it, never by inference; and a named event, like a lone one, is only a suspect of the
//! breaker below until Meta accepts something in the round (a refusal naming an event of every
//! request is the request's own).
//!
//! **Breaker.** A refusal of the request itself that `capi::classify` does not recognise looks like
//! a bad event to the bisection, which would fail every event in turn. So a lone event refused with
//! the very refusal of its whole batch (same code, subcode and message), before Meta accepted
//! anything in the round, is only a *suspect*. The second suspect opens the breaker: nothing is
//! failed, every undecided event of the batch is *held* (left out of the next reads, so the events
//! behind it go through) and the next batch is read after a backoff that grows with the openings
//! since Meta last accepted a request. Held events come back at once when nothing else is
//! pending, within `--retry-max-ms` once Meta accepts a request, and after [`MAX_HOLD`] at the
//! latest; events the breaker suspected go last in their batch ([`Plan::rank`]).
//!
//! The plan remembers acceptances across rounds: a held event refused alone again after Meta
//! accepted some request since it was held was refused for itself and fails; so does one that
//! the breaker keeps holding while Meta accepts other requests ([`MAX_PROVEN_OPENINGS`]).
//! Openings while Meta accepts nothing (a broken configuration) never fail an event.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use super::capi::Verdict;

/// Lone events refused exactly like their whole batch, before any acceptance in the round, that
/// open the breaker.
pub const BREAKER_SUSPECTS: usize = 2;
/// A held event fails for good at an opening that finds it held before and Meta's acceptance of
/// some request since, for the this-many-th time (Meta works, yet it never got a verdict of its
/// own): at its fourth opening at the earliest.
pub const MAX_PROVEN_OPENINGS: u32 = 3;
/// The longest an event is held.
pub const MAX_HOLD: Duration = Duration::from_secs(3600);
/// `Retry-After` is honoured up to this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Meta accepts events at most this old (seconds).
pub const MAX_EVENT_AGE_SECS: i64 = 7 * 24 * 3600;

/// Whether an event with this `event_time` (seconds) is too old to send at `now_ms`.
pub fn too_old(event_time: i64, now_ms: i64) -> bool {
    event_time < now_ms / 1000 - MAX_EVENT_AGE_SECS
}

/// The delays, from the flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `--retry-base-ms`: the first backoff.
    pub retry_base_ms: u64,
    /// `--retry-max-ms`: the longest backoff, the wait of a misconfiguration, the first hold.
    pub retry_max_ms: u64,
}

impl Settings {
    /// Exponential backoff: `base · 2^(n-1)`, times `0.5 + jitter` (`jitter` in [0, 1)), capped.
    pub fn backoff(&self, n: u32, jitter: f64) -> Duration {
        let exp = self
            .retry_base_ms
            .saturating_mul(1u64 << n.saturating_sub(1).min(30));
        let jittered = (exp.min(self.retry_max_ms) as f64 * (0.5 + jitter.clamp(0.0, 1.0))) as u64;
        Duration::from_millis(jittered.clamp(1, self.retry_max_ms.max(1)))
    }
}

/// Why events stay pending (for the metric label and the log line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// 5xx, 429, 408, timeouts, connection errors: `kind` is the metric label.
    Transient { kind: &'static str },
    /// The request itself was refused (token, app secret, pixel).
    Misconfigured,
    /// The Graph URL answered with a redirect, which is never followed.
    Redirected,
    /// The breaker opened: `held` events are left out of the next reads.
    Breaker { held: usize },
}

/// What the I/O loop must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Meta accepted a request carrying these events.
    MarkSent(Vec<i64>),
    /// Meta refused this event for itself: failed for good, with this message.
    MarkFailed { id: i64, message: String },
    /// These events stay pending: count an attempt and record `error` as their last error.
    KeepPending {
        ids: Vec<i64>,
        error: String,
        cause: Cause,
    },
    /// The round is over: read the next batch after this long (zero: at once).
    Done(Duration),
}

/// What the plan remembers about a held event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    /// Left out of reads until then (ms since the epoch).
    until_ms: i64,
    /// Breaker openings that held it.
    openings: u32,
    /// Openings with an acceptance since the previous one.
    proven: u32,
    /// Openings at which it was one of the suspects (refused alone).
    suspected: u32,
    /// [`Plan::accepted`] when it was last held.
    epoch: u64,
}

/// What the relay of one pixel remembers across rounds.
#[derive(Clone, Debug)]
pub struct Plan {
    settings: Settings,
    held: HashMap<i64, Held>,
    /// Requests Meta accepted so far: held events compare it with its value when they were held.
    accepted: u64,
    /// Breaker openings since Meta last accepted a request.
    streak: u32,
    /// Failed requests (or store errors) in a row: the exponent of the backoff.
    failures: u32,
    /// An opening happened since the last acceptance: the next acceptance shortens the holds.
    recall: bool,
}

impl Plan {
    pub fn new(settings: Settings) -> Plan {
        Plan {
            settings,
            held: HashMap::new(),
            accepted: 0,
            streak: 0,
            failures: 0,
            recall: false,
        }
    }

    /// Whether the next read leaves this event out.
    pub fn is_held(&self, id: i64, now_ms: i64) -> bool {
        self.held.get(&id).is_some_and(|h| h.until_ms > now_ms)
    }

    /// Whether the plan remembers this event (held now or before).
    pub fn remembers(&self, id: i64) -> bool {
        self.held.contains_key(&id)
    }

    /// Events held now or before (whose history is remembered).
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// Where an event goes in its batch: events never suspected first, then by how often they
    /// were (a stable sort by this key keeps the age order within each rank), so that the events
    /// the breaker held only for being in the same batch get their own verdict first.
    pub fn rank(&self, id: i64) -> u32 {
        self.held.get(&id).map_or(0, |h| h.suspected)
    }

    /// Nothing else is pending: every held event may be read again at once.
    pub fn release_all(&mut self, now_ms: i64) {
        for h in self.held.values_mut() {
            h.until_ms = h.until_ms.min(now_ms);
        }
    }

    /// Forget the history of events that are no longer pending (`pending` says which still are).
    pub fn forget_unless(&mut self, pending: impl Fn(i64) -> bool) {
        self.held.retain(|id, _| pending(*id));
    }

    /// The store failed: wait this long before the next round.
    pub fn store_failed(&mut self, jitter: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.settings.backoff(self.failures, jitter)
    }

    fn accept(&mut self, ids: &[i64], now_ms: i64) {
        self.accepted += 1;
        self.streak = 0;
        self.failures = 0;
        for id in ids {
            self.held.remove(id);
        }
        if std::mem::replace(&mut self.recall, false) {
            let soon = now_ms.saturating_add(ms(self.settings.retry_max_ms));
            for h in self.held.values_mut() {
                h.until_ms = h.until_ms.min(soon);
            }
        }
    }

    /// Whether Meta accepted a request since `id` was last held.
    fn accepted_since_held(&self, id: i64) -> bool {
        self.held.get(&id).is_some_and(|h| self.accepted > h.epoch)
    }

    /// Whether `id` was held and Meta has accepted nothing since.
    fn held_unproven(&self, id: i64) -> bool {
        self.held.get(&id).is_some_and(|h| self.accepted == h.epoch)
    }

    /// Open the breaker on `ids`: hold them (or fail those held too often), back off.
    /// `suspects` (among `ids`) were refused alone.
    fn open(
        &mut self,
        ids: Vec<i64>,
        suspects: &[i64],
        refusal: &str,
        now_ms: i64,
        jitter: f64,
    ) -> Vec<Action> {
        self.streak = self.streak.saturating_add(1);
        self.recall = true;
        let mut actions = Vec::new();
        let mut kept = Vec::with_capacity(ids.len());
        for id in ids {
            let accepted = self.accepted;
            let h = self.held.entry(id).or_insert(Held {
                until_ms: now_ms,
                openings: 0,
                proven: 0,
                suspected: 0,
                epoch: accepted,
            });
            if suspects.contains(&id) {
                h.suspected += 1;
            }
            if h.openings > 0 && accepted > h.epoch {
                h.proven += 1;
            }
            if h.proven >= MAX_PROVEN_OPENINGS {
                let message = format!(
                    "held {} times by the breaker while Meta accepted other events, never refused alone: {refusal}",
                    h.openings + 1
                );
                self.held.remove(&id);
                actions.push(Action::MarkFailed { id, message });
                continue;
            }
            h.openings += 1;
            h.epoch = accepted;
            h.until_ms = now_ms.saturating_add(ms(ms_u64(MAX_HOLD)));
            kept.push(id);
        }
        if !kept.is_empty() {
            actions.push(Action::KeepPending {
                error: format!("refused like the whole request, kept pending: {refusal}"),
                cause: Cause::Breaker { held: kept.len() },
                ids: kept,
            });
        }
        actions.push(Action::Done(self.settings.backoff(self.streak, jitter)));
        actions
    }
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn ms_u64(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A refusal's signature: Meta's `code`, `error_subcode` and message.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Refusal {
    code: i64,
    subcode: i64,
    message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "code {}, subcode {}: {}",
            self.code, self.subcode, self.message
        )
    }
}

/// A chunk still to send. `after` is the refusal of its parent and where its left half starts,
/// when it is the right half of a refused chunk: if that left half is then accepted, it holds the
/// refused event, and it is split without being sent whole.
/// `probe`, set on the rest of a chunk after a refused event found within a short distance of
/// the previous one (a burst): if the rest is refused, its first `probe` events are tried first,
/// then the search halves what is left.
#[derive(Clone, Debug)]
struct Chunk {
    range: Range<usize>,
    after: Option<(usize, Refusal)>,
    probe: Option<usize>,
}

impl Chunk {
    fn plain(range: Range<usize>) -> Chunk {
        Chunk {
            range,
            after: None,
            probe: None,
        }
    }
}

/// A refused event found at most this many events after the previous one makes the search
/// probe the same distance after it first (see [`Chunk`]): a burst of refused events costs two
/// requests each (the rest, refused; the probe), where halving the rest would cost `⌈log2 b⌉`.
const BURST_GAP: usize = 3;

/// One batch on its way: which chunk to send next, and what the answers mean.
#[derive(Clone, Debug)]
pub struct Round {
    ids: Vec<i64>,
    /// Chunks still to send (positions in `ids`), the next on top.
    stack: Vec<Chunk>,
    /// The chunk sent and not answered yet, and its probe.
    in_flight: Option<Range<usize>>,
    in_flight_probe: Option<usize>,
    /// Where the search last found a refused event.
    last_found: Option<usize>,
    /// The whole batch's refusal.
    whole: Option<Refusal>,
    /// Meta accepted a request this round.
    accepted_any: bool,
    /// Lone events refused like the whole batch before any acceptance: (position, message).
    suspects: Vec<(usize, String)>,
    done: bool,
}

impl Round {
    /// A round over `ids` (the batch as read, oldest first).
    pub fn new(ids: Vec<i64>) -> Round {
        let all = 0..ids.len();
        Round {
            stack: if ids.is_empty() {
                vec![]
            } else {
                vec![Chunk::plain(all)]
            },
            ids,
            in_flight: None,
            in_flight_probe: None,
            last_found: None,
            whole: None,
            accepted_any: false,
            suspects: Vec::new(),
            done: false,
        }
    }

    /// The positions in the batch to send next; `None` once the round is over (or while a request
    /// is unanswered).
    pub fn next_request(&mut self) -> Option<Range<usize>> {
        if self.done || self.in_flight.is_some() {
            return None;
        }
        let next = self.stack.pop()?;
        self.in_flight = Some(next.range.clone());
        self.in_flight_probe = next.probe;
        Some(next.range)
    }

    /// Whether the round is over (its last action was [`Action::Done`]).
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn ids_of(&self, r: &Range<usize>) -> Vec<i64> {
        self.ids
            .get(r.clone())
            .map(<[i64]>::to_vec)
            .unwrap_or_default()
    }

    fn id_at(&self, i: usize) -> i64 {
        self.ids.get(i).copied().unwrap_or_default()
    }

    fn suspect_ids(&self) -> Vec<i64> {
        self.suspects.iter().map(|(i, _)| self.id_at(*i)).collect()
    }

    /// The events not decided yet: the chunk in hand, the chunks left and the suspects.
    fn undecided(&mut self, chunk: &Range<usize>) -> Vec<i64> {
        let mut positions: Vec<usize> = chunk.clone().collect();
        positions.extend(self.stack.drain(..).flat_map(|c| c.range));
        positions.extend(self.suspects.drain(..).map(|(i, _)| i));
        positions.sort_unstable();
        positions.into_iter().map(|i| self.id_at(i)).collect()
    }

    fn finish(&mut self, mut actions: Vec<Action>, delay: Duration) -> Vec<Action> {
        self.done = true;
        actions.push(Action::Done(delay));
        actions
    }

    /// Meta's verdict on the request [`Round::next_request`] named. `jitter` in [0, 1) randomises
    /// the backoff when this answer ends the round.
    pub fn answer(
        &mut self,
        plan: &mut Plan,
        verdict: Verdict,
        now_ms: i64,
        jitter: f64,
    ) -> Vec<Action> {
        let actions = self.decide(plan, verdict, now_ms, jitter);
        for a in &actions {
            if let Action::MarkFailed { id, .. } = a {
                plan.held.remove(id);
            }
        }
        actions
    }

    fn decide(
        &mut self,
        plan: &mut Plan,
        verdict: Verdict,
        now_ms: i64,
        jitter: f64,
    ) -> Vec<Action> {
        let Some(chunk) = self.in_flight.take() else {
            return Vec::new();
        };
        let probe = self.in_flight_probe.take();
        let whole = self.whole.is_none() && chunk == (0..self.ids.len()) && !self.accepted_any;
        let mut actions = Vec::new();
        match verdict {
            Verdict::Accepted => {
                let ids = self.ids_of(&chunk);
                plan.accept(&ids, now_ms);
                actions.push(Action::MarkSent(ids));
                self.accepted_any = true;
                // The suspects were refused for themselves after all; what follows goes in one
                // request.
                let suspects = std::mem::take(&mut self.suspects);
                for (i, message) in &suspects {
                    actions.push(Action::MarkFailed {
                        id: self.id_at(*i),
                        message: message.clone(),
                    });
                }
                if !suspects.is_empty() {
                    self.merge_rest(None);
                }
                // The right half of a refused chunk whose left half this was: it holds the
                // refused event, so it is split without being sent whole. Alone, it is sent
                // alone: an event fails on a refusal of its own, never by inference (Meta may
                // have changed its mind since the refusal of the parent).
                let sibling = |c: &Chunk| {
                    c.range.start == chunk.end
                        && c.after
                            .as_ref()
                            .is_some_and(|(left, _)| *left == chunk.start)
                };
                if self.stack.last().is_some_and(sibling) {
                    if let Some(Chunk {
                        range,
                        after: Some((_, refusal)),
                        probe,
                    }) = self.stack.pop()
                    {
                        if range.len() > 1 {
                            self.split(range, refusal, probe);
                        } else {
                            self.stack.push(Chunk::plain(range));
                        }
                    }
                }
            }
            Verdict::Rejected {
                message,
                code,
                subcode,
                index,
            } => {
                let refusal = Refusal {
                    code,
                    subcode,
                    message,
                };
                if whole {
                    self.whole = Some(refusal.clone());
                }
                let named = index.filter(|i| *i < chunk.len() && chunk.len() > 1);
                if let Some(at) = named.map(|i| chunk.start + i) {
                    // Meta named the event: the events on either side go on.
                    if at + 1 < chunk.end {
                        self.stack.push(Chunk::plain(at + 1..chunk.end));
                    }
                    if chunk.start < at {
                        self.stack.push(Chunk::plain(chunk.start..at));
                    }
                    let id = self.id_at(at);
                    if self.accepted_any || plan.accepted_since_held(id) {
                        actions.push(Action::MarkFailed {
                            id,
                            message: refusal.message,
                        });
                    } else {
                        // Before Meta accepted anything this round, a named event is only a
                        // suspect, as a lone one is: a refusal that names an event of every
                        // request (a field Meta stopped taking) is the request's own, and must
                        // open the breaker, not fail every event. The next acceptance fails it.
                        self.suspects.push((at, refusal.message.clone()));
                        if self.suspects.len() >= BREAKER_SUSPECTS {
                            let suspects = self.suspect_ids();
                            let ids = self.undecided(&(0..0));
                            let mut out = actions;
                            out.extend(plan.open(
                                ids,
                                &suspects,
                                &refusal.to_string(),
                                now_ms,
                                jitter,
                            ));
                            self.done = true;
                            return out;
                        }
                    }
                } else if chunk.len() > 1 {
                    self.split(chunk, refusal, probe);
                } else {
                    let id = self.id_at(chunk.start);
                    let like_whole = self.whole.as_ref() == Some(&refusal);
                    if whole && plan.held_unproven(id) {
                        // A held event back alone, and Meta accepted nothing since: no evidence.
                        let out = plan.open(vec![id], &[id], &refusal.to_string(), now_ms, jitter);
                        self.done = true;
                        return out;
                    }
                    if whole || self.accepted_any || !like_whole || plan.accepted_since_held(id) {
                        actions.push(Action::MarkFailed {
                            id,
                            message: refusal.message,
                        });
                        // Found: the events after it go in one request, not one per level of
                        // the search. (A suspect's neighbours go alone, as before: the breaker
                        // needs a second lone refusal; the next acceptance merges them.) In a
                        // burst, the rest starts with a probe as far as this one was.
                        let at = chunk.start;
                        let gap = self.last_found.map(|q| at.saturating_sub(q + 1));
                        self.last_found = Some(at);
                        self.merge_rest(gap.filter(|g| *g <= BURST_GAP).map(|g| g + 1));
                    } else {
                        self.suspects.push((chunk.start, refusal.message.clone()));
                        if self.suspects.len() >= BREAKER_SUSPECTS {
                            let suspects = self.suspect_ids();
                            let ids = self.undecided(&(0..0));
                            let mut out = actions;
                            let refusal = refusal.to_string();
                            out.extend(plan.open(ids, &suspects, &refusal, now_ms, jitter));
                            self.done = true;
                            return out;
                        }
                    }
                }
            }
            Verdict::Retry {
                kind,
                after,
                detail,
            } => {
                plan.failures = plan.failures.saturating_add(1);
                let backoff = plan.settings.backoff(plan.failures, jitter);
                // `Retry-After` is honoured, but never shorter than the backoff we are at.
                let delay = after.map_or(backoff, |a| a.min(MAX_RETRY_AFTER).max(backoff));
                let ids = self.undecided(&chunk);
                actions.push(Action::KeepPending {
                    ids,
                    error: detail,
                    cause: Cause::Transient { kind },
                });
                return self.finish(actions, delay);
            }
            Verdict::Misconfigured { detail } => {
                return self.keep_all(plan, &chunk, detail, Cause::Misconfigured, actions);
            }
            Verdict::Redirected { detail } => {
                return self.keep_all(plan, &chunk, detail, Cause::Redirected, actions);
            }
        }
        if self.stack.is_empty() {
            if self.suspects.is_empty() {
                // Meta gave a verdict on every event: the service works.
                plan.failures = 0;
                return self.finish(actions, Duration::ZERO);
            }
            // Every request of the round was refused: no evidence the refusal is the suspects' own.
            let refusal = self.whole.as_ref().map(ToString::to_string);
            let suspects = self.suspect_ids();
            let ids = self.undecided(&(0..0));
            let refusal = refusal.unwrap_or_default();
            actions.extend(plan.open(ids, &suspects, &refusal, now_ms, jitter));
            self.done = true;
        }
        actions
    }

    /// Split a chunk that holds a refused event in halves (or after its first `probe` events),
    /// the left to send first; the right remembers the refusal (see [`Chunk`]) and is halved in
    /// turn.
    fn split(&mut self, chunk: Range<usize>, refusal: Refusal, probe: Option<usize>) {
        let len = chunk.len();
        let cut = chunk.start + probe.map_or(len / 2, |p| p.clamp(1, len.saturating_sub(1)));
        self.stack.push(Chunk {
            range: cut..chunk.end,
            after: Some((chunk.start, refusal)),
            probe: None,
        });
        self.stack.push(Chunk::plain(chunk.start..cut));
    }

    /// The chunks still to send that follow one another, from the next on, become one: after a
    /// lone refused event is found, the events after it (the right halves the search passed by)
    /// go in one request, not one per level of the search.
    fn merge_rest(&mut self, probe: Option<usize>) {
        let Some(mut top) = self.stack.pop() else {
            return;
        };
        while let Some(next) = self.stack.last() {
            if next.range.start != top.range.end {
                break;
            }
            top.range.end = next.range.end;
            self.stack.pop();
        }
        top.after = None;
        top.probe = probe;
        self.stack.push(top);
    }

    /// The request was refused whatever it carried: keep every undecided event, wait the longest.
    fn keep_all(
        &mut self,
        plan: &mut Plan,
        chunk: &Range<usize>,
        error: String,
        cause: Cause,
        mut actions: Vec<Action>,
    ) -> Vec<Action> {
        plan.failures = plan.failures.saturating_add(1);
        let ids = self.undecided(chunk);
        actions.push(Action::KeepPending { ids, error, cause });
        self.finish(actions, Duration::from_millis(plan.settings.retry_max_ms))
    }
}

#[cfg(test)]
mod tests;
