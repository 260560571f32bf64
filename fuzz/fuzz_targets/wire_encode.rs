//! `pixel_core::wire::Beacon::encode`, what the pixel puts on the wire, read back with
//! `Beacon::decode`: any beacon the pixel can build decodes to itself.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pixel_core::wire::{Beacon, Dpo};

#[derive(Arbitrary, Debug)]
struct Fields {
    id: String,
    ev: String,
    dl: String,
    rl: String,
    in_iframe: bool,
    ts: u64,
    cd: Vec<(String, String)>,
    sw: Option<u32>,
    sh: Option<u32>,
    ud: Vec<(String, String)>,
    v: String,
    r: String,
    a: Option<String>,
    ec: u32,
    fbp: Option<String>,
    fbc: Option<String>,
    it: Option<u64>,
    dpo: Option<(Vec<String>, i64, i64)>,
    eid: Option<String>,
    tm: Option<u8>,
    rqm: Option<String>,
}

fuzz_target!(|f: Fields| {
    // What the pixel never builds: no pixel id or event name, a key twice, an LDU option that
    // is empty or holds the list's comma, a geolocation without LDU (SPEC §2: `dpo=` alone).
    let unique = |list: &[(String, String)]| {
        let mut keys: Vec<&String> = list.iter().map(|(k, _)| k).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len() == list.len()
    };
    if f.id.is_empty() || f.ev.is_empty() || !unique(&f.cd) || !unique(&f.ud) {
        return;
    }
    let dpo = match f.dpo {
        Some((options, _, _)) if options.iter().any(|o| o.is_empty() || o.contains(',')) => return,
        Some((options, country, state)) if !options.is_empty() => Some(Dpo {
            options,
            country,
            state,
        }),
        Some(_) => Some(Dpo::default()),
        None => None,
    };
    let beacon = Beacon {
        id: f.id,
        ev: f.ev,
        dl: f.dl,
        rl: f.rl,
        in_iframe: f.in_iframe,
        ts: f.ts,
        cd: f.cd,
        sw: f.sw,
        sh: f.sh,
        ud: f.ud,
        v: f.v,
        r: f.r,
        a: f.a,
        ec: f.ec,
        fbp: f.fbp,
        fbc: f.fbc,
        it: f.it,
        dpo,
        eid: f.eid,
        tm: f.tm,
        rqm: f.rqm,
    };
    pixel_fuzz::assert_round_trips(&beacon);
});
