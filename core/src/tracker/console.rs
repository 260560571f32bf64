//! What the tracker says on the browser console: every message starts with `[fbq] `; the debug
//! ones only with `set('debug', true)` or `?fbq_debug=1`.

use super::state::Tracker;
use crate::host::{Host, Level};

pub(super) fn warn_msg(parts: &[&str]) -> String {
    let mut s = String::from("[fbq] ");
    for p in parts {
        s.push_str(p);
    }
    s
}

impl Tracker {
    pub(super) fn warn(&self, host: &mut dyn Host, parts: &[&str]) {
        host.console(Level::Warn, &warn_msg(parts));
    }

    pub(super) fn debug_log(&self, host: &mut dyn Host, parts: &[&str]) {
        if self.debug {
            host.console(Level::Info, &warn_msg(parts));
        }
    }

    pub(super) fn debug_warn(&self, host: &mut dyn Host, parts: &[&str]) {
        if self.debug {
            host.console(Level::Warn, &warn_msg(parts));
        }
    }
}
