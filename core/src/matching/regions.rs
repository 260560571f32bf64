//! The `st` field: US states, the District of Columbia, US territories and Canadian provinces and
//! territories, by English (and, for Canada, French) name, to their two-letter postal codes.

use super::lower::std_lower as to_lower;
use super::reason::DropReason;
use super::table::{code_bits, fold_key, fold_names, CodeBits, Names};

/// `"<code> <Name>|<Other name>..."`, one region a line, sorted by code. Names are matched folded
/// (case, spaces, punctuation and Latin-1 accents ignored), so `New York`, `new-york` and
/// `NEW YORK` all match. The wasm holds [`TABLE`], packed from this at compile time.
const REGIONS: &str = "\
ab Alberta
ak Alaska
al Alabama
ar Arkansas
as American Samoa
az Arizona
bc British Columbia|Colombie Britannique
ca California
co Colorado
ct Connecticut
dc District of Columbia|Washington DC|Washington District of Columbia
de Delaware
fl Florida
ga Georgia
gu Guam
hi Hawaii
ia Iowa
id Idaho
il Illinois
in Indiana
ks Kansas
ky Kentucky
la Louisiana
ma Massachusetts
mb Manitoba
md Maryland
me Maine
mi Michigan
mn Minnesota
mo Missouri
mp Northern Mariana Islands|Northern Marianas
ms Mississippi
mt Montana
nb New Brunswick|Nouveau Brunswick
nc North Carolina
nd North Dakota
ne Nebraska
nh New Hampshire
nj New Jersey
nl Newfoundland|Terre Neuve et Labrador
nm New Mexico
ns Nova Scotia|Nouvelle Ecosse
nt Northwest Territories|Territoires du Nord Ouest
nu Nunavut
nv Nevada
ny New York
oh Ohio
ok Oklahoma
on Ontario
or Oregon
pa Pennsylvania
pe Prince Edward Island|Ile du Prince Edouard
pr Puerto Rico
qc Quebec
ri Rhode Island
sc South Carolina
sd South Dakota
sk Saskatchewan
tn Tennessee
tx Texas
um US Minor Outlying Islands|United States Minor Outlying Islands
ut Utah
va Virginia
vi Virgin Islands
vt Vermont
wa Washington
wi Wisconsin
wv West Virginia
wy Wyoming
yt Yukon";

/// [`REGIONS`] packed: one bit per code, the folded names in code order.
const TABLE: Names = Names {
    codes: &CODES,
    names: &NAMES,
};
static CODES: CodeBits = code_bits(REGIONS);
static NAMES: [u8; fold_names::<0>(REGIONS, 3).1] = fold_names(REGIONS, 3).0;

/// The lowercase two-letter code of a US state or territory or a Canadian province or territory
/// named in full (`"British Columbia"` → `"bc"`, `"Québec"` → `"qc"`), if it is one.
pub fn region_code(name: &str) -> Option<String> {
    TABLE.code_of(&fold_key(&to_lower(name))?)
}

/// `st` (SPEC §6, of the trimmed, lowercased value): a region name, or a value with one inside it once reduced to `a-z`
/// (`NewYorkCity` → `ny`, `1California` → `ca`), becomes its code; anything else keeps its first
/// two letters `a-z`, lowercased (`ON` → `on`, `99Problems` → `pr`). Fewer than two: dropped
/// (Meta keeps a single letter, which names no region).
pub(crate) fn normalize_state(lower: &str) -> Result<String, DropReason> {
    if let Some(code) =
        fold_key(lower).and_then(|key| TABLE.code_of(&key).or_else(|| TABLE.code_within(&key)))
    {
        return Ok(code);
    }
    let mut letters = String::new();
    for c in lower.chars() {
        if letters.len() < 2 && c.is_ascii_lowercase() {
            letters.push(c);
        }
    }
    if letters.len() < 2 {
        Err(DropReason::NotARegion)
    } else {
        Ok(letters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_code_space_names() {
        let mut count = 0;
        for line in REGIONS.lines() {
            let (code, names) = line.split_once(' ').unwrap_or_default();
            assert!(
                code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase()),
                "{line}"
            );
            assert!(!names.is_empty(), "{line}");
            count += 1;
        }
        // 50 states + DC + 6 territories + 13 provinces and territories.
        assert_eq!(count, 70);
    }

    /// Every name of the readable table finds its code in the packed one, and no name belongs to
    /// two regions (so the order of the lines does not matter).
    #[test]
    fn packed_table_finds_every_name() {
        let mut seen: Vec<(String, &str)> = Vec::new();
        for line in REGIONS.lines() {
            let (code, names) = line.split_once(' ').unwrap_or_default();
            for name in names.split('|') {
                assert_eq!(region_code(name).as_deref(), Some(code), "{name}");
                let key = fold_key(&to_lower(name)).unwrap_or_default();
                if let Some((_, other)) = seen.iter().find(|(k, _)| *k == key) {
                    assert_eq!(*other, code, "{name} is both {other} and {code}");
                }
                seen.push((key, code));
            }
        }
    }

    #[test]
    fn names_fold_to_codes() {
        assert_eq!(region_code("New York").as_deref(), Some("ny"));
        assert_eq!(region_code("new-york").as_deref(), Some("ny"));
        assert_eq!(region_code("Québec").as_deref(), Some("qc"));
        assert_eq!(region_code("Île-du-Prince-Édouard").as_deref(), Some("pe"));
        assert_eq!(region_code("Hawaiʻi").as_deref(), Some("hi"));
        assert_eq!(region_code("Washington, D.C.").as_deref(), Some("dc"));
        assert_eq!(region_code("Bavaria"), None);
    }

    #[test]
    fn names_inside_longer_values() {
        let st = |s: &str| normalize_state(&to_lower(s));
        assert_eq!(st("NewYorkCity"), Ok("ny".into()));
        assert_eq!(st("New York State"), Ok("ny".into()));
        assert_eq!(st("Washington State"), Ok("wa".into()));
        assert_eq!(st("United States Virgin Islands"), Ok("vi".into()));
        assert_eq!(st("Yukon Territory"), Ok("yt".into()));
        assert_eq!(st("US Virgin Islands"), Ok("vi".into()));
        assert_eq!(st("Newfoundland and Labrador"), Ok("nl".into()));
        assert_eq!(
            st("Arkansas City"),
            Ok("ar".into()),
            "leftmost, longest: not kansas"
        );
        assert_eq!(st("Califórnia"), Ok("ca".into()));
        assert_eq!(st("456State"), Ok("st".into()));
        assert_eq!(st("x"), Err(DropReason::NotARegion));
    }
}
