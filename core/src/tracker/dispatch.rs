//! Dispatch and settings: every `fbq(...)` call comes in here, is held while consent is revoked,
//! and goes to its command: `track*` to the track pipeline, `init`, `consent`,
//! `dataProcessingOptions` and the `set` keys here.

use super::pipeline::{event_id_of, Track};
use super::state::{PixelState, Tracker};
use crate::consent::{CallContext, Consent, Held, MAX_HELD};
use crate::console::Msg;
use crate::decimal::parse_i64;
use crate::event_id;
use crate::host::Host;
use crate::json::{self, nth, Members, Value};
use crate::matching::{self, Field, Left};
use crate::pixel_id::valid_pixel_id;
use crate::url;
use crate::wire::Dpo;
use std::borrow::Cow;

fn flag(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Str(s) if s == "true" => Some(true),
        Value::Str(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// The arguments of one call; the legacy form `fbq(['track', 'PageView'])` is unwrapped.
fn arguments(json: &str) -> Option<Members<'_>> {
    let Ok(Value::Arr(mut args, _)) = json::parse(json) else {
        return None;
    };
    if let [(_, Value::Arr(inner, _))] = args.as_mut_slice() {
        args = core::mem::take(inner);
    }
    Some(args)
}

impl Tracker {
    /// One `fbq(...)` call as the JSON text of its arguments.
    pub fn call_json(&mut self, args_json: &str, host: &mut dyn Host) {
        let Some(args) = arguments(args_json) else {
            return self.warn(host, Msg::BadArguments, &[]);
        };
        let command = nth(&args, 0).and_then(Value::as_str).unwrap_or("");
        let ctx = CallContext {
            now: host.now_ms(),
            page: host.page(),
            event_id: command
                .starts_with("track")
                .then(|| event_id::generate(host)),
        };
        if self.consent == Consent::Revoked && command != "consent" {
            if self.held.len() < MAX_HELD {
                self.held.push(Held {
                    json: args_json.to_owned(),
                    ctx,
                });
            } else {
                self.warn(host, Msg::TooManyHeld, &[]);
            }
            return;
        }
        self.execute(&args, &ctx, host);
    }

    /// The page moved to a new URL through the History API.
    pub fn page_changed(&mut self, host: &mut dyn Host) {
        if !self.options.disable_push_state {
            self.call_json(r#"["track","PageView"]"#, host);
        }
    }

    fn execute(&mut self, args: &[(Cow<str>, Value)], ctx: &CallContext, host: &mut dyn Host) {
        let arg = |i: usize| nth(args, i);
        let Some(command) = arg(0).and_then(Value::as_str) else {
            return self.warn(host, Msg::NoCommand, &[]);
        };
        // track, trackCustom: (name, custom data, event data); the single forms put a pixel ID
        // first and send tm=1 (trackSingle) or tm=2 (trackSingleCustom).
        let kind = match command {
            "track" => Some((true, 0)),
            "trackCustom" => Some((false, 0)),
            "trackSingle" => Some((true, 1)),
            "trackSingleCustom" => Some((false, 1)),
            _ => None,
        };
        if let Some((standard, single)) = kind {
            let t = Track {
                // A pixel ID that is not text matches no pixel (never "all pixels").
                target: (single == 1).then(|| arg(1).and_then(Value::as_text).unwrap_or("")),
                name: arg(1 + single).and_then(Value::as_str).unwrap_or(""),
                custom: arg(2 + single),
                event_id: event_id_of(arg(3 + single)),
                tm: (single == 1).then_some(if standard { 1 } else { 2 }),
            };
            return self.track(t, standard, ctx, host);
        }
        match command {
            "init" => self.init(arg(1), arg(2), arg(3), ctx, host),
            "consent" => self.set_consent(arg(1), host),
            "dataProcessingOptions" => self.data_processing_options(arg(1), arg(2), arg(3), host),
            "set" => self.set(args.get(1..).unwrap_or(&[]), host),
            _ => self.warn(host, Msg::NotACommand, &[command]),
        }
    }

    fn init(
        &mut self,
        id: Option<&Value>,
        user_data: Option<&Value>,
        options: Option<&Value>,
        ctx: &CallContext,
        host: &mut dyn Host,
    ) {
        let Some(id) = id.and_then(Value::as_text).filter(|id| valid_pixel_id(id)) else {
            return self.warn(host, Msg::InitNeedsId, &[]);
        };
        let hashed = match user_data {
            None | Some(Value::Null) => None,
            Some(ud @ Value::Obj(..)) => Some(self.hash_user_data(ud, host)),
            Some(_) => {
                self.warn(host, Msg::InitUserData, &[]);
                None
            }
        };
        let agent = options
            .and_then(|o| o.get("agent"))
            .and_then(Value::as_text)
            .map(str::to_owned);
        if let Some(p) = self.pixels.iter_mut().find(|p| p.id == id) {
            if agent.is_some() {
                p.agent = agent;
            }
            match hashed {
                Some(ud) => p.user_data = ud,
                None => self.warn(host, Msg::DuplicatePixel, &[id]),
            }
            return;
        }
        self.first_init.get_or_insert(ctx.now);
        // Settings made for this id before its init (`set(..., id)`) carry over.
        let mut p = match self.pending.iter().position(|p| p.id == id) {
            Some(i) => self.pending.swap_remove(i),
            None => PixelState::new(id),
        };
        if let Some(ud) = hashed {
            p.user_data = ud;
        }
        if agent.is_some() {
            p.agent = agent;
        }
        self.pixels.push(p);
        self.debug_log(host, Msg::Initialised, &[id]);
    }

    /// Normalise and hash advanced-matching data. Dropped fields are reported in debug mode only,
    /// and never with their plain value.
    fn hash_user_data(&self, ud: &Value, host: &mut dyn Host) -> Vec<(Field, String)> {
        let this_year = matching::year_of(host.now_ms());
        let mut pairs = Vec::new();
        for (key, value) in ud.members().unwrap_or(&[]) {
            match value {
                Value::Null => {}
                Value::Str(_) | Value::Num(_) => pairs.push((key.as_ref(), value.as_text())),
                _ => pairs.push((key.as_ref(), None)),
            }
        }
        let lower = &|s: &str| host.lowercase(s);
        let (hashed, left) =
            matching::hash_user_data(&pairs, &matching::Context { this_year, lower });
        for l in left {
            match l {
                Left::UnknownKey(key) => self.debug_log(host, Msg::UnknownUserDataKey, &[key]),
                // SPEC §6: a console warning in debug mode, naming the field, never the value.
                Left::Dropped(field, reason) => {
                    self.debug_warn(host, Msg::dropped(reason), &[field.wire_key()])
                }
            }
        }
        hashed
    }

    fn set_consent(&mut self, action: Option<&Value>, host: &mut dyn Host) {
        let Some(next) = action
            .and_then(Value::as_str)
            .and_then(Consent::from_action)
        else {
            return self.warn(host, Msg::ConsentAction, &[]);
        };
        self.consent = next;
        if next != Consent::Revoked {
            for held in core::mem::take(&mut self.held) {
                let args = arguments(&held.json).unwrap_or_default();
                self.execute(&args, &held.ctx, host);
            }
        }
    }

    fn data_processing_options(
        &mut self,
        options: Option<&Value>,
        country: Option<&Value>,
        state: Option<&Value>,
        host: &mut dyn Host,
    ) {
        let Some(Value::Arr(items, _)) = options else {
            return self.warn(host, Msg::DpoNeedsArray, &[]);
        };
        let ldu = items.iter().any(|(_, v)| v.as_str() == Some("LDU"));
        let number =
            |v: Option<&Value>| v.and_then(Value::as_text).and_then(parse_i64).unwrap_or(0);
        self.dpo = Some(Dpo {
            options: if ldu { vec!["LDU"] } else { Vec::new() },
            country: number(country),
            state: number(state),
        });
    }

    fn set(&mut self, args: &[(Cow<str>, Value)], host: &mut dyn Host) {
        let arg = |i: usize| nth(args, i);
        let key = arg(0).and_then(Value::as_str).unwrap_or("");
        let id = |i: usize| arg(i).and_then(Value::as_text);
        match key {
            "agent" => {
                let agent = id(1).map(str::to_owned);
                self.for_targets(id(2), &mut |p| p.agent.clone_from(&agent));
            }
            "autoConfig" => {}
            "firstPartyCookies" => match (flag(arg(1)), id(2)) {
                (Some(on), None) => self.cookies_off = !on,
                (Some(on), Some(id)) => self.for_targets(Some(id), &mut |p| p.cookies = on),
                (None, _) => self.warn(host, Msg::CookiesFlag, &[]),
            },
            "endpoint" => match arg(1)
                .and_then(Value::as_str)
                .filter(|u| url::is_endpoint(u))
            {
                Some(url) => self.endpoint = Some(url.to_owned()),
                None => self.warn(host, Msg::EndpointUrl, &[]),
            },
            "openbridge" => match (
                id(1).filter(|i| valid_pixel_id(i)),
                arg(2)
                    .and_then(Value::as_str)
                    .filter(|u| url::is_endpoint(u)),
            ) {
                (Some(id), Some(url)) => {
                    self.for_targets(Some(id), &mut |p| p.bridge = Some(url.to_owned()))
                }
                _ => self.warn(host, Msg::OpenbridgeArgs, &[]),
            },
            "userData" => {
                let hashed = match arg(1) {
                    Some(ud @ Value::Obj(..)) => self.hash_user_data(ud, host),
                    _ => return self.warn(host, Msg::UserDataObject, &[]),
                };
                self.for_targets(id(2), &mut |p| p.user_data.clone_from(&hashed));
            }
            "debug" => self.debug = flag(arg(1)).unwrap_or(true),
            "honorGPC" => self.honor_gpc = flag(arg(1)).unwrap_or(true),
            _ => self.warn(host, Msg::UnknownSetting, &[key]),
        }
    }

    /// Apply a per-pixel setting: with no id, to every initialised pixel; with an id, to that
    /// pixel, or, before its `init`, to settings kept for it until then.
    fn for_targets(&mut self, id: Option<&str>, f: &mut dyn FnMut(&mut PixelState)) {
        let Some(id) = id else {
            self.pixels.iter_mut().for_each(f);
            return;
        };
        if let Some(p) = self.pixels.iter_mut().find(|p| p.id == id) {
            return f(p);
        }
        if !valid_pixel_id(id) {
            return;
        }
        if !self.pending.iter().any(|p| p.id == id) {
            self.pending.push(PixelState::new(id));
        }
        if let Some(p) = self.pending.iter_mut().find(|p| p.id == id) {
            f(p);
        }
    }
}
