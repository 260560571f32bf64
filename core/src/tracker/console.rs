//! What the tracker says on the browser console, by number ([`crate::console::Msg`]); the debug
//! messages only with `set('debug', true)` or `?fbq_debug=1`.

use super::state::Tracker;
use crate::console::Msg;
use crate::host::{Host, Level};

impl Tracker {
    pub(super) fn warn(&self, host: &mut dyn Host, msg: Msg, args: &[&str]) {
        host.console(Level::Warn, msg, args);
    }

    pub(super) fn debug_log(&self, host: &mut dyn Host, msg: Msg, args: &[&str]) {
        if self.debug {
            host.console(Level::Info, msg, args);
        }
    }

    pub(super) fn debug_warn(&self, host: &mut dyn Host, msg: Msg, args: &[&str]) {
        if self.debug {
            host.console(Level::Warn, msg, args);
        }
    }
}
