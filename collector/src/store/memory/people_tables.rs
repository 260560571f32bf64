//! The per-person state's tables ([`crate::ports::people`]) in ordered maps: the twin's state,
//! and the reference the SQL stores are compared with (they read their tables back into a
//! [`MemPeople`] for the property test; PostgreSQL also runs the algorithm on one per batch).

use std::collections::BTreeMap;

use crate::ports::people::{Facts, Landing, PeopleTx, PurchaseRec, PurchaseView};
use crate::ports::StoreError;

type Pixel = String;
type Visitor = String;

/// Every table of the per-person state, keyed as the SQL stores key them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemPeople {
    pub landings: BTreeMap<(Pixel, Visitor, i64, i64), String>,
    pub purchases: BTreeMap<(Pixel, i64, i64), PurchaseRec>,
    pub days: BTreeMap<(Pixel, Visitor, i64, String), (i64, i64)>,
    pub aem_sets: BTreeMap<(Pixel, i64, bool, String), i64>,
    pub names: BTreeMap<(Pixel, i64, String), (i64, i64)>,
    /// `(pixel, campaign, visitor, day)` → landings.
    pub channel_days: BTreeMap<(Pixel, String, Visitor, i64), i64>,
    /// `(pixel, campaign, day, previous day)` → visitors.
    pub firsts: BTreeMap<(Pixel, String, i64, i64), i64>,
}

impl PeopleTx for MemPeople {
    fn landing_insert(&mut self, f: &Facts, touch: &str) -> Result<(), StoreError> {
        self.landings.insert(
            (f.pixel.clone(), f.visitor.clone(), f.time, f.row),
            touch.to_owned(),
        );
        Ok(())
    }
    fn landing_delete(&mut self, f: &Facts) -> Result<(), StoreError> {
        self.landings
            .remove(&(f.pixel.clone(), f.visitor.clone(), f.time, f.row));
        Ok(())
    }
    fn latest_landing(
        &mut self,
        pixel: &str,
        visitor: &str,
        at: (i64, i64),
    ) -> Result<Option<Landing>, StoreError> {
        let lo = (pixel.to_owned(), visitor.to_owned(), i64::MIN, i64::MIN);
        let hi = (pixel.to_owned(), visitor.to_owned(), at.0, at.1);
        Ok(self
            .landings
            .range(lo..hi)
            .next_back()
            .map(|((_, _, time, row), touch)| Landing {
                time: *time,
                row: *row,
                touch: touch.clone(),
            }))
    }
    fn purchase_insert(&mut self, f: &Facts, p: &PurchaseRec) -> Result<(), StoreError> {
        self.purchases
            .insert((f.pixel.clone(), f.time, f.row), p.clone());
        Ok(())
    }
    fn purchase_delete(&mut self, f: &Facts) -> Result<(), StoreError> {
        self.purchases.remove(&(f.pixel.clone(), f.time, f.row));
        Ok(())
    }
    fn purchases_of(
        &mut self,
        pixel: &str,
        visitor: &str,
        after: (i64, i64),
    ) -> Result<Vec<(i64, i64, Option<(i64, i64)>)>, StoreError> {
        // The twin has no index by visitor: a walk of the pixel's Purchases after `after`.
        use std::ops::Bound::{Excluded, Unbounded};
        let lo = (pixel.to_owned(), after.0, after.1);
        Ok(self
            .purchases
            .range((Excluded(lo), Unbounded))
            .take_while(|((p, _, _), _)| p == pixel)
            .filter(|(_, p)| p.visitor == visitor)
            .map(|((_, t, r), p)| (*t, *r, p.landing.as_ref().map(|l| (l.time, l.row))))
            .collect())
    }
    fn purchase_set_landing(
        &mut self,
        pixel: &str,
        time: i64,
        row: i64,
        landing: Option<&Landing>,
    ) -> Result<(), StoreError> {
        if let Some(p) = self.purchases.get_mut(&(pixel.to_owned(), time, row)) {
            p.landing = landing.cloned();
        }
        Ok(())
    }
    fn day_names(
        &mut self,
        pixel: &str,
        visitor: &str,
        day: i64,
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let lo = (pixel.to_owned(), visitor.to_owned(), day, String::new());
        Ok(self
            .days
            .range(lo..)
            .take_while(|((p, v, d, _), _)| p == pixel && v == visitor && *d == day)
            .map(|((_, _, _, name), (n, i))| (name.clone(), *n, *i))
            .collect())
    }
    fn day_name_set(&mut self, f: &Facts, n: i64, n_ios: i64) -> Result<(), StoreError> {
        let key = (
            f.pixel.clone(),
            f.visitor.clone(),
            f.time.div_euclid(86_400),
            f.name.clone(),
        );
        if n == 0 && n_ios == 0 {
            self.days.remove(&key);
        } else {
            self.days.insert(key, (n, n_ios));
        }
        Ok(())
    }
    fn bump_set(
        &mut self,
        pixel: &str,
        day: i64,
        ios: bool,
        set: &str,
        delta: i64,
    ) -> Result<(), StoreError> {
        let key = (pixel.to_owned(), day, ios, set.to_owned());
        let n = self.aem_sets.entry(key.clone()).or_insert(0);
        *n += delta;
        if *n == 0 {
            self.aem_sets.remove(&key);
        }
        Ok(())
    }
    fn bump_name(&mut self, f: &Facts, dn: i64, dios: i64) -> Result<(), StoreError> {
        let key = (f.pixel.clone(), f.time.div_euclid(86_400), f.name.clone());
        let slot = self.names.entry(key.clone()).or_insert((0, 0));
        slot.0 += dn;
        slot.1 += dios;
        if *slot == (0, 0) {
            self.names.remove(&key);
        }
        Ok(())
    }
    fn channel_days(
        &mut self,
        pixel: &str,
        campaign: &str,
        visitor: &str,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let lo = (
            pixel.to_owned(),
            campaign.to_owned(),
            visitor.to_owned(),
            i64::MIN,
        );
        Ok(self
            .channel_days
            .range(lo..)
            .take_while(|((p, c, v, _), _)| p == pixel && c == campaign && v == visitor)
            .map(|((_, _, _, d), n)| (*d, *n))
            .collect())
    }
    fn channel_day_set(&mut self, f: &Facts, campaign: &str, n: i64) -> Result<(), StoreError> {
        let key = (
            f.pixel.clone(),
            campaign.to_owned(),
            f.visitor.clone(),
            f.time.div_euclid(86_400),
        );
        if n == 0 {
            self.channel_days.remove(&key);
        } else {
            self.channel_days.insert(key, n);
        }
        Ok(())
    }
    fn bump_first(
        &mut self,
        pixel: &str,
        campaign: &str,
        day: i64,
        prev: i64,
        delta: i64,
    ) -> Result<(), StoreError> {
        let key = (pixel.to_owned(), campaign.to_owned(), day, prev);
        let n = self.firsts.entry(key.clone()).or_insert(0);
        *n += delta;
        if *n == 0 {
            self.firsts.remove(&key);
        }
        Ok(())
    }
}

impl MemPeople {
    pub fn purchases_in(
        &self,
        pixel: &str,
        from: i64,
        to: i64,
        f: &mut dyn FnMut(&PurchaseView<'_>),
    ) {
        let lo = (pixel.to_owned(), from, i64::MIN);
        let hi = (pixel.to_owned(), to, i64::MIN);
        for ((_, time, _), p) in self.purchases.range(lo..hi) {
            f(&PurchaseView {
                visitor: &p.visitor,
                time: *time,
                amount: p.amount.as_ref().map(|(c, v)| (c.as_str(), *v)),
                landing: p
                    .landing
                    .as_ref()
                    .map(|l| (time - l.time, l.touch.as_str())),
            });
        }
    }
}
