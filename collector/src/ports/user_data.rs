//! The stored `user_data` column read back: a JSON object of canonical key → SHA-256 hex, read
//! without serde when it is in the form the store writes, and the visitor it names.
//!
//! A leaf: it knows nothing of rows, stores or reports, so the write-time derivation and every
//! report read it the same way.

use serde::Deserialize;

/// The stored user data of one event (canonical keys; values are SHA-256 hex, so never escaped).
#[derive(Default, Deserialize)]
pub(crate) struct Ud<'a> {
    #[serde(borrow)]
    pub(crate) em: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) ph: Option<&'a str>,
    #[serde(borrow, rename = "fn")]
    pub(crate) first_name: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) ln: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) ge: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) db: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) ct: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) st: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) zp: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) country: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) external_id: Option<&'a str>,
}

/// A stored `user_data` column (anything that is not an object of strings reads as empty).
pub(crate) fn parse_user_data(s: &str) -> Ud<'_> {
    plain_user_data(s).unwrap_or_else(|| serde_json::from_str(s).unwrap_or_default())
}

/// The user data in the form the store writes it (`{"key":"value",...}`: no whitespace, no
/// escapes, no repeated key) read without serde, with the answer serde would give; `None` for
/// anything else, which serde then reads.
fn plain_user_data(s: &str) -> Option<Ud<'_>> {
    // (A fold, not `all`: no early exit, so it runs over whole words at a time.)
    let plain = |t: &str| {
        t.bytes()
            .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'\\'))
    };
    let mut ud = Ud::default();
    let mut rest = s.strip_prefix('{')?;
    if rest == "}" {
        return Some(ud);
    }
    loop {
        let (key, r) = rest.strip_prefix('"')?.split_once('"')?;
        let (value, r) = r.strip_prefix(":\"")?.split_once('"')?;
        if !plain(key) || !plain(value) {
            return None;
        }
        let slot = match key {
            "em" => Some(&mut ud.em),
            "ph" => Some(&mut ud.ph),
            "fn" => Some(&mut ud.first_name),
            "ln" => Some(&mut ud.ln),
            "ge" => Some(&mut ud.ge),
            "db" => Some(&mut ud.db),
            "ct" => Some(&mut ud.ct),
            "st" => Some(&mut ud.st),
            "zp" => Some(&mut ud.zp),
            "country" => Some(&mut ud.country),
            "external_id" => Some(&mut ud.external_id),
            _ => None,
        };
        // A repeated field: serde refuses the whole object.
        if slot.is_some_and(|slot| slot.replace(value).is_some()) {
            return None;
        }
        if r == "}" {
            return Some(ud);
        }
        rest = r.strip_prefix(',')?;
    }
}

/// Who did an event without `fbp`: the hashed `external_id`, then `em`, as `x:…` / `e:…`
/// (`None`: an anonymous visitor of its own).
pub(crate) fn named_visitor(ud: &Ud<'_>) -> Option<String> {
    match (ud.external_id, ud.em) {
        (Some(x), _) => Some(format!("x:{x}")),
        (None, Some(em)) => Some(format!("e:{em}")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast reading of stored user data gives serde's answer, or leaves it to serde.
    #[test]
    fn plain_user_data_reads_as_serde_does() {
        let h = "a".repeat(64);
        let cases = [
            "{}".to_owned(),
            format!(r#"{{"em":"{h}"}}"#),
            format!(r#"{{"country":"{h}","em":"{h}","external_id":"x1","zz":"q"}}"#),
            format!(r#"{{"em":"{h}","em":"b"}}"#),
            format!(r#"{{"zz":"1","zz":"2","ph":"{h}"}}"#),
            r#"{"em":"a\"b"}"#.to_owned(),
            r#"{"em":"a\u0041"}"#.to_owned(),
            "{\"em\":\"a\nb\"}".to_owned(),
            format!(r#"{{ "em":"{h}"}}"#),
            r#"{"em":1}"#.to_owned(),
            r#"{"zz":1,"em":"x"}"#.to_owned(),
            r#"{"em":"x",}"#.to_owned(),
            r#"{"em":"x"}junk"#.to_owned(),
            r#"not json"#.to_owned(),
        ];
        let fields = |u: &Ud<'_>| {
            [
                u.em,
                u.ph,
                u.first_name,
                u.ln,
                u.ge,
                u.db,
                u.ct,
                u.st,
                u.zp,
                u.country,
                u.external_id,
            ]
            .map(|v| v.map(str::to_owned))
        };
        for case in &cases {
            let by_serde: Ud<'_> = serde_json::from_str(case).unwrap_or_default();
            if let Some(fast) = plain_user_data(case) {
                assert_eq!(fields(&fast), fields(&by_serde), "{case}");
            }
        }
        // The stored form takes the fast path.
        assert!(plain_user_data(&cases[2]).is_some_and(|u| u.external_id == Some("x1")));
        assert!(plain_user_data(&cases[3]).is_none());
    }
}
