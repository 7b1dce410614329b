//! Property tests: every valid datum of every type survives a JSON round
//! trip, and arbitrary JSON never makes a parser panic.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rvs_ovsdb::{Atom, BaseType, Constraints, Datum, DatumError, Max, RefType, Schema, Type, Uuid};
use serde_json::Value;

fn small_string(min: usize, max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec!['a', 'b', 'z', '0', ' ', '"', '\\', 'é', '中', '\n']),
        min..=max,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn finite_real() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e6f64..1e6,
        Just(0.0),
        Just(-0.0),
        Just(1e300),
        Just(-1e-300),
        any::<i32>().prop_map(f64::from),
    ]
}

fn enum_of<T: Into<Atom> + std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Option<BTreeSet<Atom>>> {
    proptest::option::of(proptest::collection::vec(s, 1..4))
        .prop_map(|o| o.map(|v| v.into_iter().map(Into::into).collect()))
}

fn base_type() -> impl Strategy<Value = BaseType> {
    let integer = (any::<i64>(), any::<i64>(), any::<bool>(), any::<bool>()).prop_flat_map(
        |(a, b, has_min, has_max)| {
            let (lo, hi) = (a.min(b), a.max(b));
            let min = if has_min { lo } else { i64::MIN };
            let max = if has_max { hi } else { i64::MAX };
            enum_of(min..=max).prop_map(move |e| {
                BaseType::with_constraints(Constraints::Integer { min, max }, e).unwrap()
            })
        },
    );
    let real = (finite_real(), finite_real(), any::<bool>(), any::<bool>()).prop_flat_map(
        |(a, b, has_min, has_max)| {
            let (lo, hi) = (a.min(b), a.max(b));
            let min = if has_min { lo } else { f64::NEG_INFINITY };
            let max = if has_max { hi } else { f64::INFINITY };
            let (slo, shi) = (lo.max(-1e9), hi.min(1e9).max(lo.max(-1e9)));
            enum_of(slo..=shi).prop_map(move |e| {
                let e = e
                    .map(|s| {
                        s.into_iter()
                            .filter(|a| matches!(a, Atom::Real(r) if *r >= min && *r <= max))
                            .collect::<BTreeSet<_>>()
                    })
                    .filter(|s| !s.is_empty());
                BaseType::with_constraints(Constraints::Real { min, max }, e).unwrap()
            })
        },
    );
    let boolean = enum_of(any::<bool>())
        .prop_map(|e| BaseType::with_constraints(Constraints::Boolean, e).unwrap());
    let string = prop_oneof![
        (0u64..4, 0u64..4, any::<bool>()).prop_map(|(a, b, has_max)| {
            let max_length = if has_max { a.max(b) } else { u64::MAX };
            BaseType::with_constraints(
                Constraints::String { min_length: a.min(b), max_length },
                None,
            )
            .unwrap()
        }),
        enum_of(small_string(0, 6)).prop_map(|e| BaseType::with_constraints(
            Constraints::String { min_length: 0, max_length: u64::MAX },
            e
        )
        .unwrap()),
    ];
    let uuid = (proptest::option::of(prop::sample::select(vec!["Port", "T_1"])), any::<bool>())
        .prop_map(|(t, weak)| {
            BaseType::with_constraints(
                Constraints::Uuid {
                    ref_table: t.map(String::from),
                    ref_type: if weak && t.is_some() { RefType::Weak } else { RefType::Strong },
                },
                None,
            )
            .unwrap()
        });
    prop_oneof![integer, real, boolean, string, uuid]
}

fn column_type() -> impl Strategy<Value = Type> {
    (
        base_type(),
        proptest::option::of(base_type()),
        0u64..=1,
        prop_oneof![(1u64..5).prop_map(Max::Limited), Just(Max::Unlimited)],
    )
        .prop_filter_map("min <= max", |(k, v, min, max)| Type::new(k, v, min, max).ok())
}

fn atom_of(b: &BaseType) -> BoxedStrategy<Atom> {
    if let Some(e) = b.enumeration() {
        return prop::sample::select(e.iter().cloned().collect::<Vec<_>>()).boxed();
    }
    match b.constraints().clone() {
        Constraints::Integer { min, max } => (min..=max).prop_map(Atom::Integer).boxed(),
        Constraints::Real { min, max } => {
            let (lo, hi) = (min.max(-1e12), max.min(1e12));
            let hi = hi.max(lo);
            prop_oneof![lo..=hi, Just(lo), Just(hi)].prop_map(Atom::Real).boxed()
        }
        Constraints::Boolean => any::<bool>().prop_map(Atom::Boolean).boxed(),
        Constraints::String { min_length, max_length } => {
            let hi = max_length.min(min_length + 6);
            small_string(min_length as usize, hi as usize).prop_map(Atom::String).boxed()
        }
        Constraints::Uuid { .. } => {
            any::<u128>().prop_map(|u| Atom::Uuid(Uuid::from_u128(u))).boxed()
        }
    }
}

fn datum_of(ty: &Type) -> BoxedStrategy<Datum> {
    let hi = match ty.max() {
        Max::Limited(m) => m.min(6),
        Max::Unlimited => 6,
    } as usize;
    let n = ty.min() as usize..=hi;
    let key = atom_of(ty.key());
    match ty.value() {
        None => proptest::collection::vec(key, n)
            .prop_map(|v| Datum::Set(v.into_iter().collect()))
            .boxed(),
        Some(vt) => proptest::collection::vec((key, atom_of(vt)), n)
            .prop_map(|v| Datum::Map(v.into_iter().collect::<BTreeMap<_, _>>()))
            .boxed(),
    }
}

fn type_and_datum() -> impl Strategy<Value = (Type, Datum)> {
    column_type().prop_flat_map(|t| {
        let d = datum_of(&t);
        (Just(t), d)
    })
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite_real().prop_map(Value::from),
        prop::sample::select(vec![
            "set",
            "map",
            "uuid",
            "named-uuid",
            "integer",
            "real",
            "boolean",
            "string",
            "unlimited",
            "strong",
            "weak",
            "Port",
            "_x",
            "1.2.3",
            "550e8400-e29b-41d4-a716-446655440000",
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop::sample::select(vec![
            "type",
            "key",
            "value",
            "min",
            "max",
            "enum",
            "minInteger",
            "maxInteger",
            "minReal",
            "maxReal",
            "minLength",
            "maxLength",
            "refTable",
            "refType",
            "name",
            "version",
            "tables",
            "columns",
            "maxRows",
            "isRoot",
            "indexes",
            "ephemeral",
            "mutable",
            "T",
        ]);
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            (prop::sample::select(vec!["set", "map", "uuid", "named-uuid"]), inner.clone())
                .prop_map(|(t, v)| Value::Array(vec![t.into(), v])),
            proptest::collection::btree_map(keys, inner, 0..5).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn types_round_trip(t in column_type()) {
        prop_assert_eq!(Type::from_json(&t.to_json()).unwrap(), t);
    }

    #[test]
    fn datums_round_trip((t, d) in type_and_datum()) {
        prop_assert!(d.check(&t).is_ok(), "{:?} {}", d.check(&t), d.to_json());
        let j = d.to_json();
        prop_assert_eq!(Datum::from_json(&j, &t, None).unwrap(), d.clone());
        // Through text, as on the wire.
        let text = serde_json::to_string(&j).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(Datum::from_json(&back, &t, None).unwrap(), d.clone());
        // OVS's shapes: bare atom for one element, tagged otherwise.
        match (&d, d.len()) {
            (Datum::Set(_), 1) => prop_assert!(!matches!(&j, Value::Array(a) if a[0] == "set")),
            (Datum::Set(_), _) => prop_assert_eq!(&j[0], "set"),
            (Datum::Map(_), _) => prop_assert_eq!(&j[0], "map"),
        }
    }

    #[test]
    fn too_many_elements_is_an_error(m in 1u64..5, extra in 1usize..3) {
        let t = Type::new(BaseType::new(rvs_ovsdb::AtomicType::Integer), None, 0, Max::Limited(m)).unwrap();
        let n = m as usize + extra;
        let j = serde_json::json!(["set", (0..n as i64).collect::<Vec<_>>()]);
        prop_assert_eq!(
            Datum::from_json(&j, &t, None).unwrap_err(),
            DatumError::TooMany { n, max: Max::Limited(m) }
        );
    }

    #[test]
    fn arbitrary_json_never_panics_as_datum(t in column_type(), j in arbitrary_json()) {
        if let Ok(d) = Datum::from_json(&j, &t, None) {
            prop_assert!(d.check(&t).is_ok());
            prop_assert_eq!(Datum::from_json(&d.to_json(), &t, None).unwrap(), d);
        }
    }

    #[test]
    fn arbitrary_json_never_panics_as_type_or_schema(j in arbitrary_json()) {
        if let Ok(t) = Type::from_json(&j) {
            prop_assert_eq!(Type::from_json(&t.to_json()).unwrap(), t);
        }
        let _ = BaseType::from_json(&j);
        if let Ok(s) = Schema::from_json(&j) {
            prop_assert_eq!(Schema::from_json(&s.to_json()).unwrap(), s);
        }
        let wrapped = serde_json::json!({"name": "D", "tables": {"T": {"columns": {"c": {"type": j}}}}});
        if let Ok(s) = Schema::from_json(&wrapped) {
            prop_assert_eq!(Schema::from_json(&s.to_json()).unwrap(), s);
        }
    }
}
