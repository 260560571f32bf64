//! A small JSON reader for the arguments of one `fbq(...)` call.
//!
//! The loader hands the engine `JSON.stringify(arguments)`: numbers arrive printed exactly as
//! JavaScript prints them, so we keep their text instead of re-printing floats (which would also
//! cost kilobytes of formatting code in wasm). Arrays and objects keep their raw JSON text too,
//! which is exactly what the wire format wants for nested custom-data values.
//!
//! Trees are built only [`MAX_TREE_DEPTH`] levels deep; anything deeper is kept as raw text after
//! an iterative bracket scan, so no input can exhaust the stack.

use std::borrow::Cow;

/// How many levels of arrays/objects become [`Value::Arr`]/[`Value::Obj`] nodes.
pub const MAX_TREE_DEPTH: usize = 4;

#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// A number, as JavaScript printed it (`12.5`, `1e+21`).
    Num(&'a str),
    /// A string: borrowed from the text unless it had escapes.
    Str(Cow<'a, str>),
    /// An array: its elements with empty keys (none past the tree depth) and its raw JSON text.
    Arr(Members<'a>, &'a str),
    /// An object: its members in order (none past the tree depth) and its raw JSON text.
    Obj(Members<'a>, &'a str),
}

/// The members of an object or, with empty keys, the elements of an array: one shape for both
/// keeps a single copy of the container code in the wasm.
pub type Members<'a> = Vec<(Cow<'a, str>, Value<'a>)>;

/// Element `i` of an array's items.
pub fn nth<'v, 'a>(items: &'v [(Cow<'a, str>, Value<'a>)], i: usize) -> Option<&'v Value<'a>> {
    items.get(i).map(|(_, v)| v)
}

/// Why the argument text could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonError;

impl<'a> Value<'a> {
    /// The text of a string or number, the way the wire format prints it.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Num(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The members of an object; `None` for anything else.
    pub fn members(&self) -> Option<&[(Cow<'a, str>, Value<'a>)]> {
        match self {
            Value::Obj(m, _) => Some(m),
            _ => None,
        }
    }

    /// Look a key up in an object.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.members()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// How the value is printed as a wire parameter: `null` is dropped, booleans print as
    /// `true`/`false`, arrays and objects as JSON.
    pub fn wire_text(&self) -> Option<&str> {
        match self {
            Value::Null => None,
            Value::Bool(true) => Some("true"),
            Value::Bool(false) => Some("false"),
            Value::Num(s) => Some(s),
            Value::Str(s) => Some(s),
            Value::Arr(_, raw) | Value::Obj(_, raw) => Some(raw),
        }
    }
}

/// Parse one JSON text. Trailing non-space characters are an error.
pub fn parse(text: &str) -> Result<Value<'_>, JsonError> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i == p.s.len() {
        Ok(v)
    } else {
        Err(JsonError)
    }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), JsonError> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(JsonError)
        }
    }

    fn literal(&mut self, word: &str, v: Value<'a>) -> Result<Value<'a>, JsonError> {
        if self.s.get(self.i..self.i + word.len()) == Some(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(JsonError)
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, JsonError> {
        self.ws();
        match self.peek().ok_or(JsonError)? {
            b'n' => self.literal("null", Value::Null),
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'"' => self.string().map(Value::Str),
            open @ (b'[' | b'{') => {
                let start = self.i;
                let object = open == b'{';
                let mut items = Vec::new();
                if depth >= MAX_TREE_DEPTH {
                    self.skip_nested()?;
                } else {
                    let close = open + 2; // `]` and `}` follow `[` and `{` by two in ASCII
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(close) {
                        self.i += 1;
                    } else {
                        loop {
                            let mut key = Cow::Borrowed("");
                            if object {
                                self.ws();
                                key = self.string()?;
                                self.eat(b':')?;
                            }
                            items.push((key, self.value(depth + 1)?));
                            self.ws();
                            match self.peek() {
                                Some(b',') => self.i += 1,
                                Some(c) if c == close => {
                                    self.i += 1;
                                    break;
                                }
                                _ => return Err(JsonError),
                            }
                        }
                    }
                }
                let raw = self.slice(start)?;
                Ok(if object {
                    Value::Obj(items, raw)
                } else {
                    Value::Arr(items, raw)
                })
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.i += 1;
                }
                self.slice(start).map(Value::Num)
            }
            _ => Err(JsonError),
        }
    }

    fn slice(&self, start: usize) -> Result<&'a str, JsonError> {
        self.text.get(start..self.i).ok_or(JsonError)
    }

    /// Skip one array or object without building it (iterative: no recursion on depth).
    fn skip_nested(&mut self) -> Result<(), JsonError> {
        let mut depth = 0usize;
        loop {
            match self.peek().ok_or(JsonError)? {
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth = depth.checked_sub(1).ok_or(JsonError)?;
                    if depth == 0 {
                        self.i += 1;
                        return Ok(());
                    }
                }
                b'"' => {
                    self.string()?;
                    continue;
                }
                _ => {}
            }
            self.i += 1;
        }
    }

    /// A string literal: borrowed when it has no escapes (the usual case), decoded otherwise.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        if self.peek() != Some(b'"') {
            return Err(JsonError);
        }
        self.i += 1;
        let mut out: Option<String> = None;
        loop {
            let start = self.i;
            while !matches!(self.peek(), Some(b'"' | b'\\') | None) {
                self.i += 1;
            }
            let run = self.slice(start)?;
            match self.peek().ok_or(JsonError)? {
                b'"' => {
                    self.i += 1;
                    return Ok(match out {
                        None => Cow::Borrowed(run),
                        Some(mut s) => {
                            s.push_str(run);
                            Cow::Owned(s)
                        }
                    });
                }
                _ => {
                    let out = out.get_or_insert_with(String::new);
                    out.push_str(run);
                    self.i += 1;
                    let c = self.peek().ok_or(JsonError)?;
                    self.i += 1;
                    out.push(match c {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(JsonError),
                    });
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut n = 0u32;
        for _ in 0..4 {
            let c = self.peek().ok_or(JsonError)?;
            let d = (c as char).to_digit(16).ok_or(JsonError)?;
            n = n << 4 | d;
            self.i += 1;
        }
        Ok(n)
    }

    /// `\uXXXX`, joining surrogate pairs; a lone surrogate becomes U+FFFD.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.s.get(self.i..self.i + 2) == Some(b"\\u") {
            let save = self.i;
            self.i += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            self.i = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value<'_> {
        Value::Str(x.into())
    }

    #[test]
    fn reads_an_fbq_call() {
        let v = parse(r#"["track","Purchase",{"value":12.5,"currency":"EUR","content_ids":["a","b"]},{"eventID":"o-1"}]"#).unwrap();
        let Value::Arr(args, _) = v else {
            panic!("not an array")
        };
        assert_eq!(nth(&args, 0), Some(&s("track")));
        let custom = nth(&args, 2).unwrap();
        assert_eq!(custom.get("value"), Some(&Value::Num("12.5")));
        assert_eq!(
            custom.get("content_ids").and_then(Value::wire_text),
            Some(r#"["a","b"]"#)
        );
        assert_eq!(nth(&args, 3).unwrap().get("eventID"), Some(&s("o-1")));
    }

    #[test]
    fn escapes_and_surrogates() {
        assert_eq!(
            parse(r#""a\"b\\c\n\u00e9\ud83d\ude00""#).unwrap(),
            s("a\"b\\c\né😀")
        );
        assert_eq!(parse(r#""\ud800x""#).unwrap(), s("\u{FFFD}x"));
        assert_eq!(parse(r#""\udc00""#).unwrap(), s("\u{FFFD}"));
    }

    #[test]
    fn deep_nesting_is_kept_raw_without_recursion() {
        let deep = format!("[{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        let Value::Arr(items, raw) = parse(&deep).unwrap() else {
            panic!()
        };
        assert_eq!(raw.len(), deep.len());
        assert_eq!(items.len(), 1);
    }

    #[test]
    fn rejects_broken_text() {
        for bad in [
            "",
            "[",
            "[1,]x",
            "{\"a\"}",
            "\"abc",
            "nul",
            "[1] 2",
            "]",
            "{\"a\":1,}",
            "\"\\q\"",
        ] {
            assert_eq!(parse(bad), Err(JsonError), "{bad}");
        }
    }

    #[test]
    fn nested_strings_with_brackets_do_not_confuse_the_skipper() {
        let text = r#"[[[[["]]]\"{"]]]]]"#;
        let v = parse(text).unwrap();
        assert_eq!(v.wire_text(), Some(text));
    }
}
