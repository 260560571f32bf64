//! What the pixel says on the browser console, as numbers: the engine names a message ([`Msg`])
//! and its arguments, and the texts stay out of the download.
//!
//! The texts ([`Msg::text`], templates with `$1`, `$2`, … for the arguments) are this module's
//! table. The wasm never references them (only [`Msg`]'s number crosses to JS), so they cost it
//! nothing; the loader fetches `fbevents.messages.js` (`www/messages.js` and the JSON copy of
//! this table it bundles, `www/messages.json`, which a test here keeps equal to the table) the
//! first time the engine says anything, and prints `[fbq] ` and the text then. A page that never
//! warns never downloads it. [`render`] is the same formatting in Rust, for the in-memory host and
//! the tests.
//!
//! Number 0, [`Msg::Beacon`], is the debug log of one beacon: its header, then one `name: value`
//! line per parameter of its wire text (the last argument), decoded.

use crate::percent::decode_component;

/// One console message; its number is its place in the table ([`Msg::ALL`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Msg {
    /// (event, pixel ID, endpoint, wire text): debug mode, one per beacon.
    Beacon,
    BadArguments,
    TooManyHeld,
    NoCommand,
    /// (command)
    NotACommand,
    InitNeedsId,
    InitUserData,
    /// (pixel ID)
    DuplicatePixel,
    /// (pixel ID): debug mode.
    Initialised,
    /// (key): debug mode.
    UnknownUserDataKey,
    /// (field), for each [`crate::matching::DropReason`] in its order: debug mode.
    DroppedEmpty,
    DroppedInvalid,
    DroppedNotAnEmail,
    DroppedNoDigits,
    DroppedNotADate,
    DroppedImpossibleDate,
    DroppedYearOutOfRange,
    DroppedUnknownGender,
    DroppedNotARegion,
    DroppedUnknownCountry,
    ConsentAction,
    DpoNeedsArray,
    CookiesFlag,
    EndpointUrl,
    OpenbridgeArgs,
    UserDataObject,
    /// (key)
    UnknownSetting,
    NoEventName,
    SingleNeedsId,
    /// (pixel ID)
    SingleUnknownPixel,
    /// (event)
    NoPixel,
    /// (event)
    CustomDataNotObject,
    /// (event, key)
    ParameterTooLong,
    /// (event)
    NotStandard,
    /// (event)
    NeedsValue,
    /// (event)
    NeedsCurrency,
}

impl Msg {
    /// Every message, in the order of its number.
    pub const ALL: [Msg; 36] = {
        use Msg::*;
        [
            Beacon,
            BadArguments,
            TooManyHeld,
            NoCommand,
            NotACommand,
            InitNeedsId,
            InitUserData,
            DuplicatePixel,
            Initialised,
            UnknownUserDataKey,
            DroppedEmpty,
            DroppedInvalid,
            DroppedNotAnEmail,
            DroppedNoDigits,
            DroppedNotADate,
            DroppedImpossibleDate,
            DroppedYearOutOfRange,
            DroppedUnknownGender,
            DroppedNotARegion,
            DroppedUnknownCountry,
            ConsentAction,
            DpoNeedsArray,
            CookiesFlag,
            EndpointUrl,
            OpenbridgeArgs,
            UserDataObject,
            UnknownSetting,
            NoEventName,
            SingleNeedsId,
            SingleUnknownPixel,
            NoPixel,
            CustomDataNotObject,
            ParameterTooLong,
            NotStandard,
            NeedsValue,
            NeedsCurrency,
        ]
    };

    /// The message that a field was dropped for `reason`.
    pub fn dropped(reason: crate::matching::DropReason) -> Msg {
        use crate::matching::DropReason as R;
        match reason {
            R::Empty => Msg::DroppedEmpty,
            R::Invalid => Msg::DroppedInvalid,
            R::NotAnEmail => Msg::DroppedNotAnEmail,
            R::NoDigits => Msg::DroppedNoDigits,
            R::NotADate => Msg::DroppedNotADate,
            R::ImpossibleDate => Msg::DroppedImpossibleDate,
            R::YearOutOfRange => Msg::DroppedYearOutOfRange,
            R::UnknownGender => Msg::DroppedUnknownGender,
            R::NotARegion => Msg::DroppedNotARegion,
            R::UnknownCountry => Msg::DroppedUnknownCountry,
        }
    }

    /// The template: `$1`, `$2`, … stand for the arguments.
    pub fn text(self) -> &'static str {
        match self {
            Msg::Beacon => "$1 → pixel $2 via $3",
            Msg::BadArguments => "bad fbq arguments; ignored.",
            Msg::TooManyHeld => "over 1000 calls held; dropped.",
            Msg::NoCommand => "no command name; ignored.",
            Msg::NotACommand => "\"$1\" is not a valid fbq command; ignored.",
            Msg::InitNeedsId => "init needs a pixel ID (1-26 digits); ignored.",
            Msg::InitUserData => "init: user data not an object; ignored.",
            Msg::DuplicatePixel => "Duplicate Pixel ID: $1; ignored.",
            Msg::Initialised => "pixel $1 initialised",
            Msg::UnknownUserDataKey => "unknown user data key \"$1\"; ignored",
            Msg::DroppedEmpty => "dropped ud[$1]: empty value",
            Msg::DroppedInvalid => "dropped ud[$1]: invalid value",
            Msg::DroppedNotAnEmail => "dropped ud[$1]: not an email",
            Msg::DroppedNoDigits => "dropped ud[$1]: no digits",
            Msg::DroppedNotADate => "dropped ud[$1]: not a date",
            Msg::DroppedImpossibleDate => "dropped ud[$1]: impossible date",
            Msg::DroppedYearOutOfRange => "dropped ud[$1]: year not 1800 to next year",
            Msg::DroppedUnknownGender => "dropped ud[$1]: unknown gender",
            Msg::DroppedNotARegion => "dropped ud[$1]: unknown region",
            Msg::DroppedUnknownCountry => "dropped ud[$1]: unknown country",
            Msg::ConsentAction => "consent takes 'revoke', 'grant' or 'limited'; ignored.",
            Msg::DpoNeedsArray => "dataProcessingOptions needs an array; ignored.",
            Msg::CookiesFlag => "set('firstPartyCookies') takes true or false; ignored.",
            Msg::EndpointUrl => "set('endpoint') needs a URL; ignored.",
            Msg::OpenbridgeArgs => "set('openbridge') needs an ID and a URL; ignored.",
            Msg::UserDataObject => "set('userData') needs an object; ignored.",
            Msg::UnknownSetting => "set('$1') is not a known setting; ignored.",
            Msg::NoEventName => "track needs an event name; ignored.",
            Msg::SingleNeedsId => "trackSingle needs a pixel ID; nothing sent.",
            Msg::SingleUnknownPixel => "trackSingle: pixel $1 not initialised; nothing sent.",
            Msg::NoPixel => "$1: no pixel initialised; nothing sent.",
            Msg::CustomDataNotObject => "$1: custom data not an object; sent without it.",
            Msg::ParameterTooLong => "$1: parameter \"$2\" is over 16 KB; dropped.",
            Msg::NotStandard => "$1 is not a standard event (use trackCustom); sent anyway.",
            Msg::NeedsValue => "$1 needs a numeric value; sent anyway.",
            Msg::NeedsCurrency => "$1 needs an ISO 4217 currency; sent anyway.",
        }
    }
}

/// The arguments as they cross to JS: joined by NUL (`src/host.js` splits them again).
pub const SEPARATOR: char = '\0';

/// The whole console line, as the loader prints it: `[fbq] `, the template with its arguments,
/// and for [`Msg::Beacon`] the decoded parameters of its wire text.
pub fn render(msg: Msg, args: &[&str]) -> String {
    let mut out = String::from("[fbq] ");
    let mut rest = msg.text();
    while let Some(at) = rest.find('$') {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let digit = tail.as_bytes().get(1).filter(|d| d.is_ascii_digit());
        match digit {
            Some(d) => {
                let n = usize::from(d - b'0');
                out.push_str(n.checked_sub(1).and_then(|i| args.get(i)).unwrap_or(&""));
                rest = tail.get(2..).unwrap_or("");
            }
            None => {
                out.push('$');
                rest = tail.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    if msg == Msg::Beacon {
        let query = args.get(3).copied().unwrap_or("");
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.push_str("\n  ");
            out.push_str(&decode_component(k).unwrap_or_default());
            out.push_str(": ");
            out.push_str(&decode_component(v).unwrap_or_default());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::DropReason;

    #[test]
    fn numbers_are_places_in_the_table() {
        for (i, m) in Msg::ALL.iter().enumerate() {
            assert_eq!(*m as usize, i, "{m:?}");
        }
    }

    #[test]
    fn dropped_names_the_reason() {
        use DropReason::*;
        for r in [
            Empty,
            Invalid,
            NotAnEmail,
            NoDigits,
            NotADate,
            ImpossibleDate,
            YearOutOfRange,
            UnknownGender,
            NotARegion,
            UnknownCountry,
        ] {
            let m = Msg::dropped(r);
            assert_eq!(m.text(), format!("dropped ud[$1]: {}", r.message()));
            assert_eq!(m as usize - Msg::DroppedEmpty as usize, r as usize);
        }
    }

    #[test]
    fn renders_arguments_once() {
        assert_eq!(
            render(Msg::ParameterTooLong, &["Lead", "$1"]),
            "[fbq] Lead: parameter \"$1\" is over 16 KB; dropped."
        );
        assert_eq!(
            render(Msg::NotACommand, &[]),
            "[fbq] \"\" is not a valid fbq command; ignored."
        );
        assert_eq!(
            render(
                Msg::Beacon,
                &["Lead", "1", "https://e/tr/", "id=1&cd[a%20b]=x%26y&ev="]
            ),
            "[fbq] Lead → pixel 1 via https://e/tr/\n  id: 1\n  cd[a b]: x&y\n  ev: "
        );
    }

    /// `www/messages.json` is this table, which the loader's `fbevents.messages.js` bundles:
    /// `UPDATE_MESSAGES=1 cargo test -p pixel-core console` writes it.
    #[test]
    fn the_loader_has_this_table() {
        let mut json = String::from("[\n");
        for (i, m) in Msg::ALL.iter().enumerate() {
            json.push_str("  \"");
            for c in m.text().chars() {
                match c {
                    '"' | '\\' => {
                        json.push('\\');
                        json.push(c);
                    }
                    _ => json.push(c),
                }
            }
            json.push('"');
            json.push_str(if i + 1 < Msg::ALL.len() { ",\n" } else { "\n" });
        }
        json.push_str("]\n");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../www/messages.json");
        if std::env::var_os("UPDATE_MESSAGES").is_some() {
            std::fs::write(path, &json).unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(path).unwrap_or_default(),
            json,
            "www/messages.json is out of date: UPDATE_MESSAGES=1 cargo test -p pixel-core console"
        );
    }
}
