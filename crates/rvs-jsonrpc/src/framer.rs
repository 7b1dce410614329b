//! Splitting a byte stream into JSON texts.
//!
//! OVS's JSON-RPC peers write JSON texts back to back with no delimiter and no
//! length prefix (RFC 7047 section 4: "the JSON-RPC messages are sent over a
//! stream ... one JSON object after another"). A reader therefore has to find
//! where each text ends by parsing it. [`Framer`] does that in two steps:
//!
//! 1. A byte-level scanner tracks bracket nesting and whether it is inside a
//!    string (and just after a backslash there), so it knows where a
//!    top-level object or array closes. It never looks inside strings, and
//!    since every structural byte is ASCII, a split in the middle of a UTF-8
//!    sequence or of an escape does not matter: the state carries over.
//! 2. The completed span goes to `serde_json::from_slice`, which does the real
//!    validation (UTF-8, escapes, numbers, literals).
//!
//! Like OVS, which closes a connection on a JSON syntax error, the framer is
//! poisoned by its first error and reports it from then on.
//!
//! Nesting deeper than `serde_json`'s limit of 128 levels is a syntax error
//! ("recursion limit exceeded"); OVSDB's messages nest a dozen levels at most.
//!
//! Only objects and arrays may be top-level texts: a bare scalar has no
//! closing byte, so its end could not be found without reading past it.

/// The default bound on one JSON text: OVSDB transactions and replies with
/// whole databases can be large.
pub const DEFAULT_MAX_LEN: usize = 64 << 20;

/// A JSON text could not be framed or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The bytes are not valid JSON.
    #[error("JSON syntax error at byte {offset} of the stream: {reason}")]
    Syntax {
        /// Offset from the first byte ever pushed into the framer.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// One JSON text grew past the framer's limit.
    #[error(
        "JSON text starting at byte {start} of the stream is longer than the {limit}-byte limit"
    )]
    TooLong {
        /// Offset of the text's first byte from the start of the stream.
        start: u64,
        /// The limit in bytes.
        limit: usize,
    },
}

/// Incremental splitter of a byte stream into top-level JSON texts.
///
/// Feed bytes with [`Framer::push`] as they arrive, then take complete texts
/// with [`Iterator::next`] until it returns `None`. Once a text is malformed,
/// `next` returns the same error forever (so do not `collect` an erroring
/// framer); the caller should close the connection as OVS does.
///
/// Memory stays bounded as long as the caller drains texts after each push:
/// the text in progress may hold at most [`Framer::max_len`] bytes.
#[derive(Debug, Clone)]
pub struct Framer {
    /// Bytes received and not yet handed out.
    buf: Vec<u8>,
    /// Index in `buf` of the text in progress (or of `pos` between texts).
    start: usize,
    /// Index in `buf` of the next byte to scan.
    pos: usize,
    /// Open brackets of the text in progress, innermost last.
    stack: Vec<u8>,
    in_text: bool,
    in_string: bool,
    escape: bool,
    /// Bytes dropped from the front of `buf` so far, for stream offsets.
    dropped: u64,
    max_len: usize,
    error: Option<FrameError>,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    /// A framer with the [`DEFAULT_MAX_LEN`] limit on a single text.
    pub fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_LEN)
    }

    /// A framer that rejects any JSON text longer than `max_len` bytes.
    pub fn with_max_len(max_len: usize) -> Self {
        Framer {
            buf: Vec::new(),
            start: 0,
            pos: 0,
            stack: Vec::new(),
            in_text: false,
            in_string: false,
            escape: false,
            dropped: 0,
            max_len,
            error: None,
        }
    }

    /// The limit on one JSON text, in bytes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Appends bytes received from the stream. Ignored once the framer has
    /// failed.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if self.start > 0 {
            // Forget the texts already handed out; this copies only the
            // partial text, and only once per completed text.
            self.buf.drain(..self.start);
            self.dropped += self.start as u64;
            self.pos -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// True if part of a JSON text has been received but not its end, so
    /// that the stream closing now would cut a message short.
    pub fn is_mid_text(&self) -> bool {
        self.in_text || self.buf[self.pos..].iter().any(|b| !b.is_ascii_whitespace())
    }

    /// Bytes held in the framer, including complete texts not yet taken.
    pub fn buffered_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The error that poisoned the framer, if any.
    pub fn error(&self) -> Option<&FrameError> {
        self.error.as_ref()
    }

    fn fail(&mut self, e: FrameError) -> Option<Result<serde_json::Value, FrameError>> {
        self.error = Some(e.clone());
        self.buf = Vec::new();
        self.stack = Vec::new();
        Some(Err(e))
    }

    fn syntax(
        &mut self,
        at: usize,
        reason: String,
    ) -> Option<Result<serde_json::Value, FrameError>> {
        let offset = self.dropped + at as u64;
        self.fail(FrameError::Syntax { offset, reason })
    }

    /// Parses the complete text `buf[start..end]`.
    fn finish(&mut self, end: usize) -> Option<Result<serde_json::Value, FrameError>> {
        let span = &self.buf[self.start..end];
        let parsed = serde_json::from_slice(span);
        let text_start = self.start;
        self.start = end;
        self.in_text = false;
        match parsed {
            Ok(v) => Some(Ok(v)),
            Err(e) => {
                // serde_json reports a 1-based line and byte column.
                let mut line_start = 0;
                for _ in 1..e.line() {
                    match span[line_start..].iter().position(|&b| b == b'\n') {
                        Some(i) => line_start += i + 1,
                        None => break,
                    }
                }
                let at = text_start + line_start + e.column().saturating_sub(1);
                let full = e.to_string();
                let reason = match full.rfind(" at line ") {
                    Some(i) => full[..i].to_string(),
                    None => full,
                };
                self.syntax(at.min(end), reason)
            }
        }
    }
}

fn describe(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

impl Iterator for Framer {
    type Item = Result<serde_json::Value, FrameError>;

    /// The next complete JSON text, `None` if more bytes are needed, or the
    /// error that poisoned the framer.
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = &self.error {
            return Some(Err(e.clone()));
        }
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            if !self.in_text {
                match b {
                    b' ' | b'\t' | b'\n' | b'\r' => {
                        self.pos += 1;
                        self.start = self.pos;
                        continue;
                    }
                    b'{' | b'[' => {
                        self.in_text = true;
                        self.in_string = false;
                        self.escape = false;
                        self.start = self.pos;
                        self.stack.clear();
                    }
                    _ => {
                        let reason = format!(
                            "expected '{{' or '[' to start a JSON text, got {}",
                            describe(b)
                        );
                        return self.syntax(self.pos, reason);
                    }
                }
            }
            if self.pos - self.start >= self.max_len {
                let start = self.dropped + self.start as u64;
                let limit = self.max_len;
                return self.fail(FrameError::TooLong { start, limit });
            }
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                self.pos += 1;
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.stack.push(b),
                b'}' | b']' => {
                    let open = if b == b'}' { b'{' } else { b'[' };
                    if self.stack.pop() != Some(open) {
                        let reason = format!("unbalanced {}", describe(b));
                        return self.syntax(self.pos, reason);
                    }
                    if self.stack.is_empty() {
                        self.pos += 1;
                        return self.finish(self.pos);
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn drain(f: &mut Framer) -> Vec<Value> {
        let mut out = Vec::new();
        // Not `for r in f`: a poisoned framer never ends.
        while let Some(r) = f.by_ref().next() {
            out.push(r.expect("valid text"));
        }
        out
    }

    #[test]
    fn several_texts_in_one_push() {
        let mut f = Framer::new();
        f.push(
            br#" {"a":1}[2,3]
{"method":"echo","params":[],"id":"echo"}  "#,
        );
        assert_eq!(
            drain(&mut f),
            vec![json!({"a":1}), json!([2, 3]), json!({"method":"echo","params":[],"id":"echo"})]
        );
        assert!(!f.is_mid_text());
        assert_eq!(f.buffered_len(), 0);
    }

    #[test]
    fn every_split_point_of_tricky_strings() {
        let text = r#"{"s":"a\"}]{[\\","u":"h\u00e9 ☃ 𝄞 \\\"","n":[{"}":"{"}]}[" ]"]"#.as_bytes();
        let want =
            vec![serde_json::from_slice::<Value>(&text[..text.len() - 6]).unwrap(), json!([" ]"])];
        for i in 0..=text.len() {
            for j in i..=text.len() {
                let mut f = Framer::new();
                let mut got = Vec::new();
                for part in [&text[..i], &text[i..j], &text[j..]] {
                    f.push(part);
                    got.extend(drain(&mut f));
                }
                assert_eq!(got, want, "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn partial_text_waits_and_reports_mid_text() {
        let mut f = Framer::new();
        f.push(b"{\"a\":\"}");
        assert!(f.next().is_none());
        assert!(f.is_mid_text());
        f.push(b"\"}");
        assert_eq!(f.next(), Some(Ok(json!({"a":"}"}))));
        assert!(!f.is_mid_text());
    }

    fn first_error(input: &[u8]) -> FrameError {
        let mut f = Framer::new();
        f.push(input);
        loop {
            match f.next() {
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    // Poisoned: the same error again, even after more input.
                    f.push(b"{}");
                    assert_eq!(f.next(), Some(Err(e.clone())));
                    assert_eq!(f.error(), Some(&e));
                    return e;
                }
                None => panic!("no error for {:?}", String::from_utf8_lossy(input)),
            }
        }
    }

    #[test]
    fn malformed_input_is_an_error_with_an_offset() {
        assert_eq!(
            first_error(b"{} 42"),
            FrameError::Syntax {
                offset: 3,
                reason: "expected '{' or '[' to start a JSON text, got '4'".into()
            }
        );
        assert_eq!(
            first_error(b"[1}"),
            FrameError::Syntax { offset: 2, reason: "unbalanced '}'".into() }
        );
        assert!(matches!(first_error(b"}"), FrameError::Syntax { offset: 0, .. }));
        assert!(matches!(first_error(b"\x00"), FrameError::Syntax { offset: 0, .. }));
        assert!(matches!(first_error(b"\"str\""), FrameError::Syntax { offset: 0, .. }));
        match first_error(b"[1] {\"a\" 1}") {
            FrameError::Syntax { offset, reason } => {
                assert_eq!(offset, 9, "{reason}");
                assert!(reason.contains("expected `:`"), "{reason}");
            }
            e => panic!("{e}"),
        }
        // Invalid UTF-8 inside a string is caught by serde_json.
        assert!(matches!(first_error(b"[\"\xff\"]"), FrameError::Syntax { .. }));
        assert!(matches!(first_error(b"[tru]"), FrameError::Syntax { .. }));
        let deep = [vec![b'['; 200], vec![b']'; 200]].concat();
        match first_error(&deep) {
            FrameError::Syntax { reason, .. } => assert!(reason.contains("recursion"), "{reason}"),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn over_the_limit() {
        let mut f = Framer::with_max_len(8);
        f.push(b"[1,2,3] [1,2,3,4]");
        assert_eq!(f.next(), Some(Ok(json!([1, 2, 3]))));
        assert_eq!(f.next(), Some(Err(FrameError::TooLong { start: 8, limit: 8 })));
        assert!(f.next().unwrap().is_err());

        // Exactly at the limit is fine; an unterminated text fails once it
        // passes the limit, without waiting for its end.
        let mut f = Framer::with_max_len(8);
        f.push(b"[1,2,33]");
        assert_eq!(f.next(), Some(Ok(json!([1, 2, 33]))));
        f.push(b"[\"aaaaaa");
        assert!(f.next().is_none());
        f.push(b"a");
        assert!(matches!(f.next(), Some(Err(FrameError::TooLong { .. }))));
    }

    #[test]
    fn offsets_count_from_the_first_byte_ever_pushed() {
        let mut f = Framer::new();
        f.push(b"[1]  ");
        assert_eq!(f.next(), Some(Ok(json!([1]))));
        assert_eq!(f.next(), None);
        f.push(b"[2]");
        assert_eq!(f.next(), Some(Ok(json!([2]))));
        f.push(b" x");
        assert!(matches!(f.next(), Some(Err(FrameError::Syntax { offset: 9, .. }))));
    }
}
