//! Property tests: JSON texts written back to back come out of the
//! [`Framer`] whole and in order however the stream is cut, and no input
//! makes it panic.

use proptest::prelude::*;
use rvs_jsonrpc::{FrameError, Framer, Message, Value};

/// Characters that stress the scanner: quotes, backslashes, brackets,
/// control characters, multi-byte UTF-8.
fn tricky_string() -> impl Strategy<Value = String> {
    let chars = vec![
        'a', 'Z', ' ', '"', '\\', '{', '}', '[', ']', ',', ':', '/', '\n', '\t', '\u{0}', '\u{1f}',
        'é', '☃', '𝄞', '\u{2028}',
    ];
    prop::collection::vec(prop::sample::select(chars), 0..12)
        .prop_map(|cs| cs.into_iter().collect())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        // Quarters print and parse exactly (serde_json's default float
        // parsing is not exact for every f64, which is not what is tested).
        (-4_000_000i32..4_000_000).prop_map(|n| Value::from(f64::from(n) / 4.0)),
        tricky_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((tricky_string(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A valid top-level text: an object or an array.
fn json_text() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::collection::vec(json_value(), 0..4).prop_map(Value::Array),
        prop::collection::vec((tricky_string(), json_value()), 0..4)
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
    ]
}

fn whitespace() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![b' ', b'\t', b'\n', b'\r']), 0..4)
}

/// Feeds `bytes` cut at `cuts` (positions taken modulo the length) and
/// collects what comes out, stopping at the first error.
fn feed(framer: &mut Framer, bytes: &[u8], cuts: &[usize]) -> Result<Vec<Value>, FrameError> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.push(0);
    cuts.push(bytes.len());
    cuts.sort_unstable();
    let mut out = Vec::new();
    for w in cuts.windows(2) {
        framer.push(&bytes[w[0]..w[1]]);
        while let Some(r) = framer.by_ref().next() {
            out.push(r?);
        }
    }
    Ok(out)
}

proptest! {
    #[test]
    fn texts_back_to_back_survive_any_cuts(
        texts in prop::collection::vec((json_text(), whitespace(), any::<bool>()), 1..6),
        lead in whitespace(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut bytes = lead;
        for (text, ws, pretty) in &texts {
            if *pretty {
                bytes.extend(serde_json::to_vec_pretty(text).unwrap());
            } else {
                bytes.extend(serde_json::to_vec(text).unwrap());
            }
            bytes.extend(ws);
        }
        let mut framer = Framer::new();
        let got = feed(&mut framer, &bytes, &cuts).unwrap();
        let want: Vec<Value> = texts.into_iter().map(|(t, _, _)| t).collect();
        prop_assert_eq!(got, want);
        prop_assert!(!framer.is_mid_text());
    }

    #[test]
    fn one_byte_at_a_time(text in json_text()) {
        let bytes = serde_json::to_vec(&text).unwrap();
        let cuts: Vec<usize> = (0..bytes.len()).collect();
        let got = feed(&mut Framer::new(), &bytes, &cuts).unwrap();
        prop_assert_eq!(got, vec![text]);
    }

    #[test]
    fn garbage_never_panics_and_errors_stick(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
        max_len in 1usize..64,
    ) {
        let mut framer = Framer::with_max_len(max_len);
        if let Err(e) = feed(&mut framer, &bytes, &cuts) {
            framer.push(b"{}");
            prop_assert_eq!(framer.next(), Some(Err(e.clone())));
            prop_assert_eq!(framer.next(), Some(Err(e)));
        }
    }

    #[test]
    fn truncated_text_is_never_complete(text in json_text(), cut in any::<usize>()) {
        let bytes = serde_json::to_vec(&text).unwrap();
        let cut = cut % bytes.len();
        let mut framer = Framer::new();
        framer.push(&bytes[..cut]);
        prop_assert_eq!(framer.next(), None);
        prop_assert_eq!(framer.is_mid_text(), cut > 0);
    }

    #[test]
    fn too_long_text_is_rejected(text in json_text(), slack in 1usize..4) {
        let bytes = serde_json::to_vec(&text).unwrap();
        prop_assume!(bytes.len() > slack);
        let mut framer = Framer::with_max_len(bytes.len() - slack);
        framer.push(&bytes);
        let is_too_long = matches!(framer.next(), Some(Err(FrameError::TooLong { .. })));
        prop_assert!(is_too_long);
        let mut framer = Framer::with_max_len(bytes.len());
        framer.push(&bytes);
        prop_assert_eq!(framer.next(), Some(Ok(text)));
    }

    #[test]
    fn messages_round_trip(
        method in tricky_string(),
        params in prop::collection::vec(json_value(), 0..4),
        result in json_value(),
        id in json_value().prop_filter("ids are not null", |v| !v.is_null()),
        kind in 0u8..4,
    ) {
        let msg = match kind {
            0 => Message::request(method, params, id),
            1 => Message::notification(method, params),
            2 => Message::reply(result, id),
            _ => Message::error(
                if result.is_null() { Value::from("e") } else { result },
                id,
            ),
        };
        let mut framer = Framer::new();
        framer.push(&msg.to_bytes());
        let value = framer.next().unwrap().unwrap();
        prop_assert_eq!(Message::from_value(value).unwrap(), msg);
    }
}
