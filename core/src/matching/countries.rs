//! The `country` field: every ISO 3166-1 alpha-2 code (249 of them) with its English short name and
//! the common alternates people type (`USA`, `UK`, `Great Britain`, `South Korea`, `Russia`, ...).

use super::lower::std_lower as to_lower;
use super::reason::DropReason;
use super::table::{code_bits, fold_key, fold_names, CodeBits, Names};

/// `"<code> <Name>|<Other name>..."`, one country a line, sorted by code. Names are matched folded
/// (case, spaces, punctuation and Latin-1 accents ignored, `&` read as `and`), so they are written
/// in plain ASCII: `Cote d'Ivoire` also matches `Côte d’Ivoire` and `COTE DIVOIRE`. The wasm
/// holds [`TABLE`], packed from this at compile time.
const COUNTRIES: &str = "\
ad Andorra
ae UAE|Emirates
af Afghanistan
ag Antigua and Barbuda
ai Anguilla
al Albania
am Armenia
ao Angola
aq Antarctica
ar Argentina
as American Samoa
at Austria
au Australia
aw Aruba
ax Aland Islands
az Azerbaijan
ba Bosnia
bb Barbados
bd Bangladesh
be Belgium
bf Burkina Faso
bg Bulgaria
bh Bahrain
bi Burundi
bj Benin
bl Saint Barthelemy|St Barthelemy|St Barts
bm Bermuda
bn Brunei
bo Bolivia
bq Caribbean Netherlands|Bonaire
br Brazil|Brasil
bs Bahamas
bt Bhutan
bv Bouvet Island
bw Botswana
by Belarus
bz Belize
ca Canada
cc Cocos (Keeling) Islands|Cocos Islands
cd Democratic Republic of the Congo|Congo, The Democratic Republic of the|DR Congo|DRC|Congo Kinshasa
cf Central African Republic
cg Congo
ch Switzerland
ci Cote d'Ivoire|Ivory Coast
ck Cook Islands
cl Chile
cm Cameroon
cn China|PRC
co Colombia
cr Costa Rica
cu Cuba
cv Cabo Verde|Cape Verde
cw Curacao
cx Christmas Island
cy Cyprus
cz Czechia|Czech Republic
de Germany|Deutschland
dj Djibouti
dk Denmark
dm Dominica
do Dominican Republic
dz Algeria
ec Ecuador
ee Estonia
eg Egypt
eh Western Sahara
er Eritrea
es Spain|Espana
et Ethiopia
fi Finland
fj Fiji
fk Falkland Islands
fm Micronesia
fo Faroe Islands
fr France
ga Gabon
gb United Kingdom|UK|Britain|England|Scotland|Wales|Northern Ireland
gd Grenada
ge Georgia
gf French Guiana
gg Guernsey
gh Ghana
gi Gibraltar
gl Greenland
gm Gambia
gn Guinea
gp Guadeloupe
gq Equatorial Guinea
gr Greece
gs South Georgia and the South Sandwich Islands
gt Guatemala
gu Guam
gw Guinea-Bissau
gy Guyana
hk Hong Kong
hm Heard Island and McDonald Islands
hn Honduras
hr Croatia
ht Haiti
hu Hungary
id Indonesia
ie Ireland
il Israel
im Isle of Man
in India
io British Indian Ocean Territory
iq Iraq
ir Iran
is Iceland
it Italy
je Jersey
jm Jamaica
jo Jordan
jp Japan
ke Kenya
kg Kyrgyzstan
kh Cambodia
ki Kiribati
km Comoros
kn Saint Kitts and Nevis|St Kitts and Nevis
kp North Korea|Korea, Democratic People's Republic of|DPRK
kr Korea
kw Kuwait
ky Cayman Islands
kz Kazakhstan
la Laos|Lao People's Democratic Republic
lb Lebanon
lc Saint Lucia|St Lucia
li Liechtenstein
lk Sri Lanka
lr Liberia
ls Lesotho
lt Lithuania
lu Luxembourg
lv Latvia
ly Libya
ma Morocco
mc Monaco
md Moldova
me Montenegro
mf Saint Martin|St Martin
mg Madagascar
mh Marshall Islands
mk Macedonia
ml Mali
mm Myanmar|Burma
mn Mongolia
mo Macao|Macau
mp Northern Mariana Islands
mq Martinique
mr Mauritania
ms Montserrat
mt Malta
mu Mauritius
mv Maldives
mw Malawi
mx Mexico
my Malaysia
mz Mozambique
na Namibia
nc New Caledonia
ne Niger
nf Norfolk Island
ng Nigeria
ni Nicaragua
nl Netherlands|Holland
no Norway
np Nepal
nr Nauru
nu Niue
nz New Zealand
om Oman
pa Panama
pe Peru
pf French Polynesia
pg Papua New Guinea
ph Philippines
pk Pakistan
pl Poland
pm Saint Pierre and Miquelon|St Pierre and Miquelon
pn Pitcairn
pr Puerto Rico
ps Palestine
pt Portugal
pw Palau
py Paraguay
qa Qatar
re Reunion
ro Romania
rs Serbia
ru Russia
rw Rwanda
sa Saudi Arabia
sb Solomon Islands
sc Seychelles
sd Sudan
se Sweden
sg Singapore
sh Saint Helena|St Helena
si Slovenia
sj Svalbard and Jan Mayen
sk Slovakia|Slovak Republic
sl Sierra Leone
sm San Marino
sn Senegal
so Somalia
sr Suriname
ss South Sudan
st Sao Tome and Principe
sv El Salvador
sx Sint Maarten
sy Syria
sz Eswatini|Swaziland
tc Turks and Caicos Islands
td Chad
tf French Southern Territories
tg Togo
th Thailand
tj Tajikistan
tk Tokelau
tl Timor-Leste|East Timor
tm Turkmenistan
tn Tunisia
to Tonga
tr Turkey|Turkiye
tt Trinidad and Tobago
tv Tuvalu
tw Taiwan
tz Tanzania
ua Ukraine
ug Uganda
um United States Minor Outlying Islands|US Minor Outlying Islands
us United States|USA|US|America
uy Uruguay
uz Uzbekistan
va Holy See|Vatican
vc Saint Vincent and the Grenadines|St Vincent and the Grenadines
ve Venezuela
vg British Virgin Islands|Virgin Islands, British
vi US Virgin Islands|United States Virgin Islands|Virgin Islands, U.S.
vn Vietnam
vu Vanuatu
wf Wallis and Futuna
ws Samoa
ye Yemen
yt Mayotte
za South Africa
zm Zambia
zw Zimbabwe";

/// [`COUNTRIES`] packed: one bit per code, the folded names in code order.
const TABLE: Names = Names {
    codes: &CODES,
    names: &NAMES,
};
static CODES: CodeBits = code_bits(COUNTRIES);
static NAMES: [u8; fold_names::<0>(COUNTRIES, 3).1] = fold_names(COUNTRIES, 3).0;

/// The lowercase ISO 3166-1 alpha-2 code for a code (`"DE"` → `"de"`) or an English country name
/// (`"United States of America"` → `"us"`, `"UK"` → `"gb"`), if it is one.
pub fn country_code(s: &str) -> Option<String> {
    code_of_key(&fold_key(&to_lower(s))?)
}

/// The code for a folded code or name.
fn code_of_key(key: &str) -> Option<String> {
    if TABLE.has_code(key) {
        Some(key.into())
    } else {
        TABLE.code_of(key)
    }
}

/// `country` (SPEC §6, of the trimmed, lowercased value): an ISO code or an English name, or a value with a name inside it once
/// reduced to `a-z` (`United States of America (USA)`), becomes the lowercase code; anything else
/// is dropped (a two-letter input that is no ISO code, like `xx`, included: Meta's code would
/// send its first two letters, a code that is no country).
pub(crate) fn normalize_country(lower: &str) -> Result<String, DropReason> {
    fold_key(lower)
        .and_then(|key| code_of_key(&key).or_else(|| TABLE.code_within(&key)))
        .ok_or(DropReason::UnknownCountry)
}

/// True when `code` (lowercase) is an ISO 3166-1 alpha-2 code.
pub fn is_country_code(code: &str) -> bool {
    TABLE.has_code(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_all_249_codes_sorted_and_unique() {
        let mut last = "";
        let mut count = 0;
        for line in COUNTRIES.lines() {
            let (code, names) = line.split_once(' ').unwrap_or_default();
            assert!(
                code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase()),
                "{line}"
            );
            assert!(code > last, "not sorted: {line}");
            assert!(!names.is_empty() && !names.contains("||"), "{line}");
            last = code;
            count += 1;
        }
        assert_eq!(count, 249);
    }

    #[test]
    fn no_name_maps_to_two_codes() {
        let mut seen: Vec<(String, &str)> = Vec::new();
        for line in COUNTRIES.lines() {
            let (code, names) = line.split_once(' ').unwrap_or_default();
            for name in names.split('|') {
                let key = fold_key(&to_lower(name)).unwrap_or_default();
                assert!(!key.is_empty(), "{line}");
                if let Some((_, other)) = seen.iter().find(|(k, _)| *k == key) {
                    assert_eq!(*other, code, "{name} is both {other} and {code}");
                }
                seen.push((key, code));
            }
        }
    }

    /// Every code and name of the readable table is found in the packed one.
    #[test]
    fn packed_table_finds_every_code_and_name() {
        for line in COUNTRIES.lines() {
            let (code, names) = line.split_once(' ').unwrap_or_default();
            assert!(is_country_code(code), "{code}");
            assert_eq!(country_code(code).as_deref(), Some(code));
            for name in names.split('|') {
                assert_eq!(country_code(name).as_deref(), Some(code), "{name}");
            }
        }
    }

    #[test]
    fn codes_and_names() {
        assert_eq!(country_code("DE").as_deref(), Some("de"));
        assert_eq!(country_code("xx"), None);
        assert_eq!(country_code("UK").as_deref(), Some("gb"));
        assert_eq!(country_code("U.S.A.").as_deref(), Some("us"));
        assert_eq!(country_code("Côte d’Ivoire").as_deref(), Some("ci"));
        assert_eq!(country_code("Trinidad & Tobago").as_deref(), Some("tt"));
        assert_eq!(country_code("Atlantis"), None);
        assert!(is_country_code("aq"));
        assert!(!is_country_code("eu"));
    }

    /// Formal and alternate names that contain a shorter name of the same country are not in the
    /// table: the search for a name inside the value finds them (SPEC §6).
    #[test]
    fn longer_names_are_found_through_the_name_inside() {
        for (name, code) in [
            ("United Arab Emirates", "ae"),
            ("Bosnia and Herzegovina", "ba"),
            ("Bonaire, Sint Eustatius and Saba", "bq"),
            ("Brunei Darussalam", "bn"),
            ("Bolivia, Plurinational State of", "bo"),
            ("The Bahamas", "bs"),
            ("Republic of the Congo", "cg"),
            ("Congo Brazzaville", "cg"),
            ("People's Republic of China", "cn"),
            ("Falkland Islands (Malvinas)", "fk"),
            ("Great Britain", "gb"),
            ("United Kingdom of Great Britain and Northern Ireland", "gb"),
            ("Republic of Ireland", "ie"),
            ("Iran, Islamic Republic of", "ir"),
            ("Korea, Republic of", "kr"),
            ("South Korea", "kr"),
            ("North Macedonia", "mk"),
            ("Republic of Korea", "kr"),
            ("Saint Martin (French part)", "mf"),
            ("The Netherlands", "nl"),
            ("Russian Federation", "ru"),
            ("Saint Helena, Ascension and Tristan da Cunha", "sh"),
            ("Sint Maarten (Dutch part)", "sx"),
            ("Taiwan, Province of China", "tw"),
            ("United States of America", "us"),
            ("Vatican City", "va"),
            ("Viet Nam", "vn"),
        ] {
            assert_eq!(
                normalize_country(&to_lower(name)).as_deref(),
                Ok(code),
                "{name}"
            );
        }
    }
}
