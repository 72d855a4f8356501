//! Java properties syntax, as `java.util.Properties.load` reads it, which is what Kafka's
//! `server.properties` files are written in.
//!
//! A logical line is a key, an optional separator (`=`, `:` or blanks) and a value; a natural
//! line ending in an odd number of backslashes continues on the next one, whose leading blanks
//! are dropped. Lines whose first non-blank character is `#` or `!` are comments (a comment
//! never continues), and blank lines are skipped. In keys and values `\t`, `\n`, `\r`, `\f`
//! and `\uXXXX` are escapes and a backslash before any other character stands for that
//! character. Values keep their trailing blanks here, as in Java; the reader of a value trims
//! it, as Kafka does.
//!
//! One difference from Java: the text is UTF-8, not ISO 8859-1, since that is what an editor
//! writes today. The parser never panics; a malformed `\u` escape is an error naming its line.

use std::fmt;

/// One `key=value` pair and the natural line (counting from 1) where it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The key, escapes resolved.
    pub key: String,
    /// The value, escapes resolved, trailing blanks kept.
    pub value: String,
    /// The natural line the pair started on.
    pub line: usize,
}

/// A line that is not valid properties syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// The natural line (counting from 1) the bad logical line started on.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Blanks as Java's `Properties` knows them: space, tab and form feed.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Parses a whole file, pairs in the order they appear (a later duplicate key is a later
/// pair; the caller decides what a duplicate means).
pub fn parse(text: &str) -> Result<Vec<Property>, SyntaxError> {
    let mut properties = Vec::new();
    for (line, logical) in logical_lines(text) {
        let (key, value) = split_key_value(&logical);
        let unescape = |raw: &str| unescape(raw).map_err(|message| SyntaxError { line, message });
        properties.push(Property {
            key: unescape(key)?,
            value: unescape(value)?,
            line,
        });
    }
    Ok(properties)
}

/// Natural lines, split on `\n`, `\r\n` or a lone `\r` as Java does, numbered from 1.
fn natural_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            Some(end) => {
                let line = current.get(..end).unwrap_or("");
                let after = current.get(end..).unwrap_or("");
                let skip = if after.starts_with("\r\n") { 2 } else { 1 };
                rest = after.get(skip..);
                Some(line)
            }
            None => {
                rest = None;
                // A file ending in a line terminator has no further (empty) line.
                (!current.is_empty()).then_some(current)
            }
        }
    })
    .enumerate()
    .map(|(index, line)| (index + 1, line))
}

/// Whether a natural line ends in an odd number of backslashes, i.e. continues.
fn continues(line: &str) -> bool {
    line.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Logical lines (continuations joined, comments and blank lines dropped), still escaped,
/// each with the natural line it started on.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut logical = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (number, natural) in natural_lines(text) {
        let stripped = natural.trim_start_matches(is_blank);
        let (start, mut buffer) = match pending.take() {
            // A continuation line is never a comment, even if it starts with `#`.
            Some(open) => open,
            None if stripped.is_empty() || stripped.starts_with(['#', '!']) => continue,
            None => (number, String::new()),
        };
        if continues(stripped) {
            buffer.push_str(stripped.strip_suffix('\\').unwrap_or(stripped));
            pending = Some((start, buffer));
        } else {
            buffer.push_str(stripped);
            logical.push((start, buffer));
        }
    }
    // A backslash on the last line of the file continues into nothing, as in Java.
    logical.extend(pending);
    logical
}

/// Splits an escaped logical line into its escaped key and value: the key ends at the first
/// unescaped `=`, `:` or blank; blanks and at most one `=` or `:` follow before the value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    let mut value_start = line.len();
    let mut separator_seen = false;
    for (at, c) in line.char_indices() {
        if !escaped && (c == '=' || c == ':') {
            (key_end, value_start, separator_seen) = (at, at + 1, true);
            break;
        }
        if !escaped && is_blank(c) {
            (key_end, value_start) = (at, at + c.len_utf8());
            break;
        }
        escaped = c == '\\' && !escaped;
    }
    let key = line.get(..key_end).unwrap_or("");
    let mut value = line
        .get(value_start..)
        .unwrap_or("")
        .trim_start_matches(is_blank);
    if !separator_seen {
        if let Some(after) = value.strip_prefix(['=', ':']) {
            value = after.trim_start_matches(is_blank);
        }
    }
    (key, value)
}

/// Resolves the escapes of a key or value.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => out.push(unicode_escape(&mut chars)?),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some(other) => out.push(other),
            // Only reachable at the very end of a file; Java drops that backslash too.
            None => {}
        }
    }
    Ok(out)
}

/// The character of a `\uXXXX` escape whose `\u` was just read. Java strings are UTF-16, so
/// a character outside the basic plane is written as two escapes, a surrogate pair.
fn unicode_escape(chars: &mut std::str::Chars<'_>) -> Result<char, String> {
    let half = |unit: u16| format!("\\u{unit:04X} is half of a surrogate pair");
    let unit = hex_unit(chars)?;
    if !(0xD800..0xDC00).contains(&unit) {
        return char::from_u32(u32::from(unit)).ok_or_else(|| half(unit));
    }
    let low = match (chars.next(), chars.next()) {
        (Some('\\'), Some('u')) => hex_unit(chars)?,
        _ => return Err(half(unit)),
    };
    char::decode_utf16([unit, low])
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| half(unit))
}

/// The four hex digits of a `\u` escape.
fn hex_unit(chars: &mut std::str::Chars<'_>) -> Result<u16, String> {
    let mut unit: u16 = 0;
    for _ in 0..4 {
        let digit = chars
            .next()
            .and_then(|c| c.to_digit(16))
            .ok_or_else(|| "malformed \\uXXXX escape (four hex digits expected)".to_string())?;
        // Four hex digits fit in 16 bits.
        unit = (unit << 4) | digit as u16;
    }
    Ok(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    }

    fn pair(key: &str, value: &str) -> (String, String) {
        (key.to_string(), value.to_string())
    }

    #[test]
    fn separators_equals_colon_and_blanks() {
        assert_eq!(
            pairs("a=1\nb: 2\nc 3\n  d = 4\ne\t:\t5\nf==6\ng\nh=\n"),
            vec![
                pair("a", "1"),
                pair("b", "2"),
                pair("c", "3"),
                pair("d", "4"),
                pair("e", "5"),
                pair("f", "=6"),
                pair("g", ""),
                pair("h", ""),
            ]
        );
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let text =
            "# a comment\n! another\n\n   \n  # indented comment\nkey=value # not a comment\n";
        assert_eq!(pairs(text), vec![pair("key", "value # not a comment")]);
    }

    #[test]
    fn continuation_lines_join_without_their_leading_blanks() {
        let text = "listeners=PLAINTEXT://:9092,\\\n          CONTROLLER://:9093\nnext=1\n";
        assert_eq!(
            pairs(text),
            vec![
                pair("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
                pair("next", "1")
            ]
        );
        // An even number of backslashes is an escaped backslash, not a continuation.
        assert_eq!(
            pairs("dir=C:\\\\\nx=1"),
            vec![pair("dir", "C:\\"), pair("x", "1")]
        );
        // A continued line starting with `#` is part of the value, not a comment.
        assert_eq!(pairs("a=1\\\n#2\n"), vec![pair("a", "1#2")]);
        // A comment ending in a backslash does not swallow the next line.
        assert_eq!(pairs("# note \\\nb=2\n"), vec![pair("b", "2")]);
        // A blank line ends a continuation.
        assert_eq!(pairs("a=1\\\n\nb=2"), vec![pair("a", "1"), pair("b", "2")]);
        // A backslash on the last line continues into nothing.
        assert_eq!(pairs("a=1\\"), vec![pair("a", "1")]);
    }

    #[test]
    fn line_terminators_and_numbers() {
        let parsed = parse("a=1\r\nb=2\rc=3\n\n# x\nd=4\\\n  5\ne=6").unwrap();
        let lines: Vec<(&str, &str, usize)> = parsed
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str(), p.line))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("a", "1", 1),
                ("b", "2", 2),
                ("c", "3", 3),
                ("d", "45", 6),
                ("e", "6", 8)
            ]
        );
    }

    #[test]
    fn escapes_in_keys_and_values() {
        assert_eq!(
            pairs("my\\ key\\=x=a\\tb\\nc\\\\d\\:e\\u00e9\\uD83D\\uDE00\\q\n"),
            vec![pair("my key=x", "a\tb\nc\\d:e\u{e9}\u{1F600}q")]
        );
        // Trailing blanks stay in the value, as Java keeps them.
        assert_eq!(pairs("k = v  \n"), vec![pair("k", "v  ")]);
    }

    #[test]
    fn malformed_unicode_escapes_name_their_line() {
        for text in [
            "a=1\nb=\\u12G4\n",
            "a=1\nb=\\u12",
            "a=1\nb=\\uD83Dx",
            "a=1\nb=\\uDE00",
        ] {
            let error = parse(text).unwrap_err();
            assert_eq!(error.line, 2, "{text:?}: {error}");
        }
    }

    /// How a writer escapes `text` (Java's `Properties.store` escapes a little less), one
    /// string per character so continuations can go between them.
    fn escaped_units(text: &str) -> Vec<String> {
        text.chars()
            .map(|c| match c {
                '\\' => "\\\\".to_string(),
                '\t' => "\\t".to_string(),
                '\n' => "\\n".to_string(),
                '\r' => "\\r".to_string(),
                '\u{c}' => "\\f".to_string(),
                '=' | ':' | '#' | '!' | ' ' => format!("\\{c}"),
                c => c.to_string(),
            })
            .collect()
    }

    /// Joins escaped units, continuing the line after unit `i` when bit `i % 64` is set. Not
    /// after the last: the next line's leading blanks would swallow a blank separator.
    fn with_continuations(units: &[String], breaks: u64) -> String {
        let mut out = String::new();
        for (at, unit) in units.iter().enumerate() {
            out.push_str(unit);
            if breaks & (1 << (at % 64)) != 0 && at + 1 < units.len() {
                out.push_str("\\\n \t  ");
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "[a-z=: \\t\\\\#!\\r\\nuD0-9A-F]{0,200}", other in ".{0,200}") {
            let _ = parse(&text);
            let _ = parse(&other);
        }

        #[test]
        fn what_a_writer_escapes_reads_back(
            pairs in proptest::collection::vec(("\\PC{1,12}|.{1,12}", ".{0,24}"), 0..8),
            separators in proptest::collection::vec(0..5usize, 8),
            breaks in proptest::prelude::any::<u64>(),
        ) {
            let mut text = String::new();
            for (at, (key, value)) in pairs.iter().enumerate() {
                let separator = ["=", ":", " = ", " ", "\t:\t"][separators[at] % 5];
                text.push_str(&with_continuations(&escaped_units(key), breaks));
                text.push_str(separator);
                text.push_str(&with_continuations(&escaped_units(value), breaks.rotate_left(7)));
                text.push_str(if at % 2 == 0 { "\n# a comment\n\n" } else { "\r\n" });
            }
            let parsed: Vec<(String, String)> = parse(&text)
                .unwrap()
                .into_iter()
                .map(|p| (p.key, p.value))
                .collect();
            proptest::prop_assert_eq!(parsed, pairs);
        }
    }
}
