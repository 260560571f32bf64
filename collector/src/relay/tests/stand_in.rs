//! A scripted Graph API in process: it answers each request from a script (then 200), records
//! every body it was sent and when (on the relay's clock), and turns each answer into a verdict
//! the way [`HttpGraph`](crate::relay::graph::HttpGraph) does, through `capi`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::ports::Clock;
use crate::relay::capi::{self, Verdict};
use crate::relay::graph::{Graph, Sending};

/// Meta's answer to a request holding an event it refuses (an invalid parameter).
pub const META_400: &str = r#"{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2804003,"is_transient":false,"error_user_title":"Invalid event","error_user_msg":"The event BadEvent has an invalid parameter.","fbtrace_id":"AbCdEf"}}"#;

/// [`META_400`] naming the refused event's position in the request's `data`, in `error_data` (a
/// JSON string, as the Graph API encodes it).
pub fn meta_400_at(index: usize) -> String {
    let data = serde_json::json!({ "event_index": index }).to_string();
    serde_json::json!({"error": {
        "message": "Invalid parameter",
        "type": "OAuthException",
        "code": 100,
        "error_subcode": 2804003,
        "is_transient": false,
        "error_user_title": "Invalid event",
        "error_user_msg": "The event BadEvent has an invalid parameter.",
        "error_data": data,
        "fbtrace_id": "AbCdEf",
    }})
    .to_string()
}

/// How the stand-in answers one request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// 200, `{"events_received": n}` (or the `reject_event_name` 400).
    Ok,
    /// This status with this body.
    Status(u16, &'static str),
    /// This status with `Retry-After: <secs>`.
    RetryAfter(u16, u64),
    /// [`Answer::Ok`] after this long (a slow Graph API; the relay waits for it).
    Late(Duration),
    /// No answer: the transport's retry of this kind (`connect`, `timeout`) with this detail.
    Fail(&'static str, &'static str),
}

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct Received {
    /// On the relay's clock, when the answer was given.
    pub at_ms: i64,
    pub pixel: String,
    pub body: Value,
    /// The status it was answered with (0: no answer, [`Answer::Fail`]).
    pub status: u16,
}

impl Received {
    pub fn events(&self) -> Vec<Value> {
        self.body["data"].as_array().cloned().unwrap_or_default()
    }
}

/// The `event_id` of each event (empty when it has none).
fn ids(events: &[Value]) -> Vec<String> {
    let id = |e: &Value| e["event_id"].as_str().unwrap_or("").to_owned();
    events.iter().map(id).collect()
}

#[derive(Default)]
struct State {
    /// The event IDs of each request as it arrived, answered or not.
    arrivals: Vec<Vec<String>>,
    received: Vec<Received>,
    script: VecDeque<Answer>,
    /// Answer [`META_400`] to any request holding an event of this name, once the script is
    /// used up (a scripted answer comes first).
    reject_event_name: Option<String>,
    /// The 400 of `reject_event_name` names the first refused event's position in the request
    /// (`error_data.event_index`, as Meta's batch uploads do), instead of leaving it unsaid.
    name_the_index: bool,
}

/// The stand-in Graph API.
pub struct StandIn {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl StandIn {
    pub fn new(clock: Arc<dyn Clock>) -> Arc<StandIn> {
        Arc::new(StandIn {
            clock,
            state: Mutex::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers for the next requests, in order; after them every request gets 200 (or the
    /// `reject_event_name` 400).
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.state().script.extend(answers);
    }

    pub fn reject_event_name(&self, name: &str) {
        self.state().reject_event_name = Some(name.to_owned());
    }

    /// The refusals of `reject_event_name` name the refused event's index in the request.
    pub fn name_the_index(&self) {
        self.state().name_the_index = true;
    }

    /// Requests that have arrived (answered or not).
    pub fn arrived(&self) -> usize {
        self.state().arrivals.len()
    }

    /// The event IDs of every request that arrived, in arrival order, answered or not.
    pub fn arrivals(&self) -> Vec<Vec<String>> {
        self.state().arrivals.clone()
    }

    /// Requests answered, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state().received.clone()
    }

    /// Event IDs in requests answered 2xx, in order.
    pub fn accepted_ids(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .flat_map(|r| ids(&r.events()))
            .collect()
    }

    /// Each request answered: how many events it carried, and its status.
    pub fn sizes(&self) -> Vec<(usize, u16)> {
        let size = |r: &Received| (r.events().len(), r.status);
        self.received().iter().map(size).collect()
    }

    async fn answer(&self, pixel: &str, body: Vec<u8>) -> Verdict {
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let data = body["data"].as_array().cloned().unwrap_or_default();
        let (answer, reject, name_the_index) = {
            let mut s = self.state();
            s.arrivals.push(ids(&data));
            let answer = s.script.pop_front().unwrap_or(Answer::Ok);
            (answer, s.reject_event_name.clone(), s.name_the_index)
        };
        let answer = match answer {
            Answer::Late(d) => {
                tokio::time::sleep(d).await;
                Answer::Ok
            }
            other => other,
        };
        let first_bad =
            reject.and_then(|bad| data.iter().position(|e| e["event_name"] == bad.as_str()));
        let (status, verdict) = match answer {
            Answer::Ok if first_bad.is_some() && name_the_index => {
                let body = meta_400_at(first_bad.unwrap_or_default());
                (400, capi::classify(400, None, body.as_bytes()))
            }
            Answer::Ok if first_bad.is_some() => {
                (400, capi::classify(400, None, META_400.as_bytes()))
            }
            Answer::Ok | Answer::Late(_) => (200, capi::classify(200, None, b"{}")),
            Answer::Status(code, text) => (code, capi::classify(code, None, text.as_bytes())),
            Answer::RetryAfter(code, secs) => {
                let after = Some(Duration::from_secs(secs));
                (code, capi::classify(code, after, b"slow down"))
            }
            Answer::Fail(kind, detail) => (
                0,
                Verdict::Retry {
                    kind,
                    after: None,
                    detail: detail.to_owned(),
                },
            ),
        };
        self.state().received.push(Received {
            at_ms: self.clock.now_ms(),
            pixel: pixel.to_owned(),
            body,
            status,
        });
        verdict
    }
}

impl Graph for StandIn {
    fn send<'a>(&'a self, pixel_id: &'a str, body: Vec<u8>) -> Sending<'a> {
        Box::pin(self.answer(pixel_id, body))
    }
}
