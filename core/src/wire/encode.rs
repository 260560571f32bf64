//! The encoder: a [`Beacon`] into Meta's exact query string, in Meta's parameter order. (The
//! debug console shows the same text decoded: `crate::console::render`.)

use super::beacon::Beacon;
use crate::decimal::push_u64;
use crate::percent::encode_uri_component;

impl<S: AsRef<str>> Beacon<S> {
    /// The query string, without a leading `?`, in Meta's parameter order.
    pub fn encode(&self) -> String {
        let mut q = Query {
            out: String::with_capacity(512),
        };
        q.push("id", self.id.as_ref());
        q.push("ev", self.ev.as_ref());
        q.push("dl", self.dl.as_ref());
        q.push("rl", self.rl.as_ref());
        q.push("if", if self.in_iframe { "true" } else { "false" });
        q.push_num("ts", self.ts);
        for (k, v) in &self.cd {
            q.push_bracket("cd", k.as_ref(), v.as_ref());
        }
        if let Some(sw) = self.sw {
            q.push_num("sw", sw.into());
        }
        if let Some(sh) = self.sh {
            q.push_num("sh", sh.into());
        }
        for (k, v) in &self.ud {
            q.push_bracket("ud", k.as_ref(), v.as_ref());
        }
        q.push("v", self.v.as_ref());
        q.push("r", self.r.as_ref());
        q.opt("a", &self.a);
        q.push_num("ec", self.ec.into());
        q.opt("fbp", &self.fbp);
        q.opt("fbc", &self.fbc);
        if let Some(it) = self.it {
            q.push_num("it", it);
        }
        if let Some(dpo) = &self.dpo {
            let mut options = String::new();
            for (i, o) in dpo.options.iter().enumerate() {
                if i > 0 {
                    options.push(',');
                }
                options.push_str(o.as_ref());
            }
            q.push("dpo", &options);
            if !dpo.options.is_empty() {
                q.push_signed("dpoco", dpo.country);
                q.push_signed("dpost", dpo.state);
            }
        }
        q.opt("eid", &self.eid);
        if let Some(tm) = self.tm {
            q.push_num("tm", tm.into());
        }
        q.opt("rqm", &self.rqm);
        q.out
    }
}

/// Writes parameters percent-encoded for the wire (`a=1&b=2`).
struct Query {
    out: String,
}

impl Query {
    fn name(&mut self, name: &str) {
        if !self.out.is_empty() {
            self.out.push('&');
        }
        self.out.push_str(name);
    }
    fn text(&mut self, value: &str) {
        encode_uri_component(value, &mut self.out);
    }
    fn eq(&mut self) {
        self.out.push('=');
    }
    fn push(&mut self, name: &str, value: &str) {
        self.name(name);
        self.eq();
        self.text(value);
    }
    fn opt<S: AsRef<str>>(&mut self, name: &str, value: &Option<S>) {
        if let Some(v) = value {
            self.push(name, v.as_ref());
        }
    }
    fn push_bracket(&mut self, prefix: &str, key: &str, value: &str) {
        self.name(prefix);
        self.out.push('[');
        self.text(key);
        self.out.push(']');
        self.eq();
        self.text(value);
    }
    fn push_num(&mut self, name: &str, n: u64) {
        self.name(name);
        self.eq();
        push_u64(&mut self.out, n);
    }
    fn push_signed(&mut self, name: &str, n: i64) {
        self.name(name);
        self.eq();
        if n < 0 {
            self.out.push('-');
        }
        push_u64(&mut self.out, n.unsigned_abs());
    }
}
