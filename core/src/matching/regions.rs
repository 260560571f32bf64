//! The `st` field: US states, the District of Columbia, US territories and Canadian provinces and
//! territories, by English (and, for Canada, French) name, to their two-letter postal codes.

use super::case::to_lower;
use super::text::{class, fold_key, is_combining_diacritic, table_lookup, Class};
use super::DropReason;

/// `"<code> <Name>|<Other name>..."`, one region a line. Names are matched folded (case, spaces,
/// punctuation and Latin-1 accents ignored), so `New York`, `new-york` and `NEW YORK` all match.
const REGIONS: &str = "\
al Alabama
ak Alaska
az Arizona
ar Arkansas
ca California
co Colorado
ct Connecticut
de Delaware
dc District of Columbia|Washington DC|Washington District of Columbia
fl Florida
ga Georgia
hi Hawaii
id Idaho
il Illinois
in Indiana
ia Iowa
ks Kansas
ky Kentucky
la Louisiana
me Maine
md Maryland
ma Massachusetts
mi Michigan
mn Minnesota
ms Mississippi
mo Missouri
mt Montana
ne Nebraska
nv Nevada
nh New Hampshire
nj New Jersey
nm New Mexico
ny New York|New York State
nc North Carolina
nd North Dakota
oh Ohio
ok Oklahoma
or Oregon
pa Pennsylvania
ri Rhode Island
sc South Carolina
sd South Dakota
tn Tennessee
tx Texas
ut Utah
vt Vermont
va Virginia
wa Washington|Washington State
wv West Virginia
wi Wisconsin
wy Wyoming
as American Samoa
gu Guam
mp Northern Mariana Islands|Northern Marianas
pr Puerto Rico
vi US Virgin Islands|United States Virgin Islands|Virgin Islands
um US Minor Outlying Islands|United States Minor Outlying Islands
ab Alberta
bc British Columbia|Colombie Britannique
mb Manitoba
nb New Brunswick|Nouveau Brunswick
nl Newfoundland and Labrador|Newfoundland|Terre Neuve et Labrador
ns Nova Scotia|Nouvelle Ecosse
nt Northwest Territories|Territoires du Nord Ouest
nu Nunavut
on Ontario
pe Prince Edward Island|Ile du Prince Edouard
qc Quebec
sk Saskatchewan
yt Yukon|Yukon Territory";

/// The lowercase two-letter code of a US state or territory or a Canadian province or territory
/// named in full (`"British Columbia"` → `"bc"`, `"Québec"` → `"qc"`), if it is one.
pub fn region_code(name: &str) -> Option<&'static str> {
    table_lookup(REGIONS, &fold_key(name)?)
}

/// `st`: a full region name becomes its code; anything else keeps its first two letters, lowercased
/// (`ON` → `on`, `N.Y.` → `ny`). Fewer than two letters: dropped.
pub(crate) fn normalize_state(trimmed: &str) -> Result<String, DropReason> {
    if let Some(code) = region_code(trimmed) {
        return Ok(code.into());
    }
    let letters: String = to_lower(trimmed)
        .chars()
        .filter(|&c| class(c) == Class::Letter && !is_combining_diacritic(c))
        .take(2)
        .collect();
    if letters.chars().count() < 2 {
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

    #[test]
    fn names_fold_to_codes() {
        assert_eq!(region_code("New York"), Some("ny"));
        assert_eq!(region_code("new-york"), Some("ny"));
        assert_eq!(region_code("Québec"), Some("qc"));
        assert_eq!(region_code("Île-du-Prince-Édouard"), Some("pe"));
        assert_eq!(region_code("Hawaiʻi"), Some("hi"));
        assert_eq!(region_code("Washington, D.C."), Some("dc"));
        assert_eq!(region_code("Bavaria"), None);
    }
}
