//! Who did an event, as a small integer: the reports count people by visitor, and keep per
//! visitor in a `Vec` rather than a map.

use std::collections::HashMap;

use crate::ports::derivation::user_data;
use crate::ports::user_data::named_visitor;
use crate::ports::Row;

/// The reports' hash maps: keyed by visitors and days, a million lookups per report.
pub(super) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Visitors numbered 0, 1, 2… in order of first appearance: a visitor is the `fbp`; else the
/// hashed `external_id`, then `em`; else an anonymous visitor of its own (one event).
#[derive(Default)]
pub(super) struct Visitors {
    by_fbp: FastMap<Box<str>, u32>,
    /// `x:<external_id>` / `e:<em>`.
    by_name: FastMap<Box<str>, u32>,
    count: u32,
}

impl Visitors {
    pub(super) fn id(&mut self, row: &Row<'_>) -> u32 {
        let (map, key) = if let Some(fbp) = row.fbp {
            (&mut self.by_fbp, fbp)
        } else if let Some(d) = row.derived {
            match d.visitor {
                Some(v) => (&mut self.by_name, v),
                None => return self.fresh(),
            }
        } else {
            let Some(v) = named_visitor(&user_data(row)) else {
                return self.fresh();
            };
            return Self::lookup(&mut self.by_name, &mut self.count, &v);
        };
        Self::lookup(map, &mut self.count, key)
    }

    fn lookup(map: &mut FastMap<Box<str>, u32>, count: &mut u32, key: &str) -> u32 {
        if let Some(id) = map.get(key) {
            return *id;
        }
        let id = *count;
        *count += 1;
        map.insert(key.into(), id);
        id
    }

    fn fresh(&mut self) -> u32 {
        let id = self.count;
        self.count += 1;
        id
    }

    pub(super) fn len(&self) -> usize {
        self.count as usize
    }
}

/// `slot` of `v` for visitor `id`, growing `v` as new visitors appear.
pub(super) fn per_visitor<T: Default>(v: &mut Vec<T>, id: u32) -> &mut T {
    let i = id as usize;
    if v.len() <= i {
        v.resize_with(i + 1, T::default);
    }
    // In range: just resized.
    #[allow(clippy::indexing_slicing)]
    &mut v[i]
}
