//! The database file: round trips, recovery from a torn tail at every byte
//! of the last record, compaction, and replay of random transactions.

mod support;

use proptest::prelude::*;
use rvs_ovsdb::{transact_with, CompactPolicy, Database, Schema, Storage, StorageError};
use serde_json::{json, Value};
use support::{content, TempDir};

fn schema() -> Schema {
    Schema::from_json(&json!({
        "name": "T",
        "tables": {
            "R": {"columns": {
                "n": {"type": "integer"},
                "s": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
                "m": {"type": {"key": "string", "value": "integer", "min": 0, "max": "unlimited"}},
                "kids": {"type": {"key": {"type": "uuid", "refTable": "K"}, "min": 0, "max": "unlimited"}},
                "eph": {"type": "integer", "ephemeral": true}
            }, "isRoot": true},
            "K": {"columns": {"v": {"type": "string"}}}
        }
    }))
    .unwrap()
}

/// Runs `ops` on `db` and logs the result in `st`; panics if it fails.
fn commit(db: &mut Database, st: &mut Storage, ops: Value) -> Value {
    let out = transact_with(db, &ops, &|_| false);
    let changes = out.changes.unwrap_or_else(|| panic!("{ops} failed: {}", out.result));
    st.append(db.schema(), &changes, None).unwrap();
    out.result
}

#[test]
fn round_trip_keeps_every_committed_transaction() {
    let dir = TempDir::new("roundtrip");
    let path = dir.join("db");
    let (mut st, mut db) = Storage::create(&path, schema()).unwrap();
    assert!(matches!(Storage::create(&path, schema()), Err(StorageError::Exists(_))));
    let r = commit(
        &mut db,
        &mut st,
        json!([
            {"op": "insert", "table": "K", "row": {"v": "kid"}, "uuid-name": "k"},
            {"op": "insert", "table": "R", "row": {"n": 1, "s": ["set", ["a", "b"]],
             "m": ["map", [["x", 1]]], "kids": ["named-uuid", "k"], "eph": 9}}
        ]),
    );
    let r_uuid = r[1]["uuid"][1].as_str().unwrap().to_string();
    commit(
        &mut db,
        &mut st,
        json!([{"op": "mutate", "table": "R", "where": [],
                "mutations": [["n", "+=", 41], ["m", "insert", ["map", [["y", 2]]]]]}]),
    );
    // A failed transaction is not logged.
    let bad = transact_with(
        &mut db,
        &json!([{"op": "insert", "table": "R", "row": {"n": "x"}}]),
        &|_| false,
    );
    assert!(bad.changes.is_none());
    // Garbage collection is logged as a delete.
    commit(
        &mut db,
        &mut st,
        json!([{"op": "update", "table": "R", "where": [], "row": {"kids": ["set", []]}}]),
    );
    assert!(db.table("K").unwrap().is_empty());
    drop(st);

    let (st2, db2) = Storage::open(&path).unwrap();
    assert!(st2.truncation().is_none());
    assert_eq!(st2.records_since_snapshot(), 2);
    let mut expected = content(&db);
    // Ephemeral columns are not stored: they come back at their default.
    expected["R"][&r_uuid]["eph"] = json!(0);
    assert_eq!(content(&db2), expected);
    assert_eq!(
        db2.table("R").unwrap().values().next().unwrap().get("n").unwrap().to_json(),
        json!(42)
    );
}

#[test]
fn torn_tail_at_every_byte_of_the_last_record_is_cut_off() {
    let dir = TempDir::new("torn");
    let path = dir.join("db");
    let (mut st, mut db) = Storage::create(&path, schema()).unwrap();
    for i in 0..3 {
        commit(&mut db, &mut st, json!([{"op": "insert", "table": "R", "row": {"n": i}}]));
    }
    let keep = std::fs::metadata(&path).unwrap().len();
    let before_last = content(&db);
    commit(
        &mut db,
        &mut st,
        json!([{"op": "insert", "table": "R", "row": {"n": 3, "s": ["set", ["torn"]]}}]),
    );
    drop(st);
    let full = std::fs::read(&path).unwrap();
    let probe = dir.join("probe");
    for cut in keep as usize..full.len() {
        std::fs::write(&probe, &full[..cut]).unwrap();
        let (mut st, mut db) = Storage::open(&probe).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        assert_eq!(content(&db), before_last, "cut at {cut}");
        let t = st.truncation().map(|t| (t.offset, t.dropped));
        let expect = (cut as u64 > keep).then_some((keep, cut as u64 - keep));
        assert_eq!(t, expect, "cut at {cut}");
        assert_eq!(std::fs::metadata(&probe).unwrap().len(), keep, "cut at {cut}");
        // The cut file takes new transactions and replays them.
        commit(&mut db, &mut st, json!([{"op": "insert", "table": "R", "row": {"n": 99}}]));
        drop(st);
        let (st, db2) = Storage::open(&probe).unwrap();
        assert!(st.truncation().is_none(), "cut at {cut}");
        assert_eq!(content(&db2), content(&db), "cut at {cut}");
    }
    // A flipped byte inside the last record is caught by the checksum.
    let mut flipped = full.clone();
    let at = full.len() - 5;
    flipped[at] ^= 0x20;
    std::fs::write(&probe, &flipped).unwrap();
    let (st, db) = Storage::open(&probe).unwrap();
    assert!(st.truncation().unwrap().reason.contains("SHA-1 mismatch"), "{:?}", st.truncation());
    assert_eq!(content(&db), before_last);
}

#[test]
fn damaged_schema_or_intact_bad_record_fails_the_open() {
    let dir = TempDir::new("bad");
    let path = dir.join("db");
    std::fs::write(&path, b"OVSDB JSON 10 0000").unwrap();
    let e = Storage::open(&path).unwrap_err();
    assert!(matches!(e, StorageError::NoSchema { .. }), "{e}");
    std::fs::write(&path, b"").unwrap();
    assert!(Storage::open(&path).unwrap_err().to_string().contains("file is empty"));
    // An intact record for a table the schema lacks is a bad file, not a torn write.
    let (st, _) = {
        std::fs::remove_file(&path).unwrap();
        Storage::create(&path, schema()).unwrap()
    };
    drop(st);
    let mut data = std::fs::read(&path).unwrap();
    data.extend(rvs_ovsdb::storage::encode_record(&json!({"Nope": {}})));
    std::fs::write(&path, &data).unwrap();
    let e = Storage::open(&path).unwrap_err().to_string();
    assert!(e.contains("no table Nope"), "{e}");
}

#[test]
fn compaction_preserves_content_and_shrinks_the_file() {
    let dir = TempDir::new("compact");
    let path = dir.join("db");
    let policy = CompactPolicy { min_records: 10, growth_factor: 4 };
    let (st, _) = Storage::create(&path, schema()).unwrap();
    drop(st);
    let (mut st, mut db) = Storage::open_with(&path, policy).unwrap();
    commit(&mut db, &mut st, json!([{"op": "insert", "table": "R", "row": {"n": 0}}]));
    let mut compacted = false;
    for i in 0..200 {
        commit(
            &mut db,
            &mut st,
            json!([{"op": "update", "table": "R", "where": [], "row": {"n": i}}]),
        );
        if st.should_compact() {
            let before = st.size();
            st.compact(&db).unwrap();
            assert!(st.size() < before);
            assert_eq!(st.records_since_snapshot(), 0);
            compacted = true;
        }
    }
    assert!(compacted, "the policy never asked for compaction");
    assert!(!dir.join("db.tmp").exists());
    st.compact(&db).unwrap();
    commit(&mut db, &mut st, json!([{"op": "insert", "table": "R", "row": {"n": 7}}]));
    drop(st);
    let (_, db2) = Storage::open(&path).unwrap();
    assert_eq!(content(&db2), content(&db));
}

fn random_op(kind: u8, a: i64, b: u8) -> Value {
    let key = format!("k{}", b % 4);
    match kind % 6 {
        0 => json!({"op": "insert", "table": "R", "row": {"n": a, "s": ["set", [key]]}}),
        1 => {
            json!({"op": "update", "table": "R", "where": [["n", "<", a]], "row": {"m": ["map", [[key, a]]]}})
        }
        2 => {
            json!({"op": "mutate", "table": "R", "where": [], "mutations": [["s", "insert", key]]})
        }
        3 => {
            json!({"op": "mutate", "table": "R", "where": [["n", ">", a]], "mutations": [["m", "delete", ["set", [key]]]]})
        }
        4 => json!({"op": "delete", "table": "R", "where": [["n", "<", a]]}),
        _ => json!({"op": "insert", "table": "K", "row": {"v": key}, "uuid-name": "kid"}),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn replay_equals_the_in_memory_database(
        txns in proptest::collection::vec(
            (proptest::collection::vec((any::<u8>(), -50i64..50, any::<u8>()), 1..4), any::<bool>()),
            1..25),
    ) {
        let dir = TempDir::new("prop");
        let path = dir.join("db");
        let (mut st, mut db) = Storage::create(&path, schema()).unwrap();
        for (ops, compact) in txns {
            let mut list: Vec<Value> = ops.iter().map(|&(k, a, b)| random_op(k, a, b)).collect();
            // Keep inserted K rows alive by referencing them from a new R row.
            if list.iter().any(|o| o["table"] == "K") {
                list.retain(|o| o["table"] != "K");
                list.push(random_op(5, 0, 0));
                list.push(json!({"op": "insert", "table": "R", "row": {"kids": ["named-uuid", "kid"]}}));
            }
            let out = transact_with(&mut db, &Value::Array(list), &|_| false);
            if let Some(ch) = out.changes {
                st.append(db.schema(), &ch, Some("prop")).unwrap();
            }
            if compact {
                st.compact(&db).unwrap();
            }
        }
        drop(st);
        let (st, db2) = Storage::open(&path).unwrap();
        prop_assert!(st.truncation().is_none());
        prop_assert_eq!(content(&db2), content(&db));
    }
}
