//! Behaviour every backend must show: typed round trips, ordered scans, range reads equal
//! to a filtered scan, first and last entries, table isolation, deletes, last-write-wins
//! within a batch, and data surviving a reopen (sled).

use std::collections::BTreeMap;
use std::ops::Bound;

use manyfold_storage::{
    MemoryStorage, Order, SledStorage, Storage, StorageError, StorageExt, Table, WriteBatch,
};
use proptest::prelude::*;

struct Numbers;
impl Table for Numbers {
    const NAME: &'static str = "numbers";
    type Key = u64;
    type Value = Vec<u8>;
}

/// A table whose name is a prefix of [`Numbers`]'s, to catch prefix collisions.
struct Num;
impl Table for Num {
    const NAME: &'static str = "num";
    type Key = u64;
    type Value = u32;
}

/// A table with composite keys, for ranges over pairs.
struct Pairs;
impl Table for Pairs {
    const NAME: &'static str = "pairs";
    type Key = (u16, Vec<u8>);
    type Value = u8;
}

/// Never written.
struct Empty;
impl Table for Empty {
    const NAME: &'static str = "empty";
    type Key = u32;
    type Value = u32;
}

fn keys_of<K, V>(entries: Vec<(K, V)>) -> Vec<K> {
    entries.into_iter().map(|(k, _)| k).collect()
}

fn conformance(store: &dyn Storage) {
    assert_eq!(store.first::<Numbers>().unwrap(), None, "an empty store");
    assert_eq!(store.last::<Numbers>().unwrap(), None);
    let mut batch = WriteBatch::new();
    for k in [300u64, 2, 1 << 40, 7] {
        batch.put::<Numbers>(&k, &k.to_string().into_bytes());
    }
    batch.put::<Num>(&2, &99);
    batch.put::<Numbers>(&7, &b"seven".to_vec());
    store.commit(batch).unwrap();

    assert_eq!(
        store.get::<Numbers>(&7).unwrap(),
        Some(b"seven".to_vec()),
        "last write in a batch wins"
    );
    assert_eq!(store.get::<Num>(&2).unwrap(), Some(99));
    assert_eq!(
        store.get::<Num>(&300).unwrap(),
        None,
        "tables do not see each other's keys"
    );
    let keys = keys_of(store.scan::<Numbers>().unwrap());
    assert_eq!(keys, vec![2, 7, 300, 1 << 40], "scans are in key order");

    // `Num` (one key) is a prefix of `Numbers`'s name: neither range leaks into the other.
    assert_eq!(store.first::<Numbers>().unwrap().map(|e| e.0), Some(2));
    assert_eq!(store.last::<Numbers>().unwrap().map(|e| e.0), Some(1 << 40));
    assert_eq!(store.first::<Num>().unwrap(), Some((2, 99)));
    assert_eq!(store.last::<Num>().unwrap(), Some((2, 99)));
    assert_eq!(
        store
            .range::<Num>(.., Order::Descending, None)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.last::<Empty>().unwrap(), None, "an empty table");
    assert_eq!(store.first::<Empty>().unwrap(), None);
    assert_eq!(
        store.range::<Empty>(.., Order::Ascending, None).unwrap(),
        vec![]
    );

    let range = |r: (Bound<u64>, Bound<u64>), order, limit| {
        keys_of(store.range::<Numbers>(r, order, limit).unwrap())
    };
    use Bound::{Excluded as Ex, Included as In, Unbounded as Un};
    assert_eq!(range((In(7), Un), Order::Ascending, Some(1)), vec![7]);
    assert_eq!(range((Ex(7), Un), Order::Ascending, Some(1)), vec![300]);
    assert_eq!(
        range((In(3), In(300)), Order::Ascending, None),
        vec![7, 300]
    );
    assert_eq!(range((In(3), Ex(300)), Order::Descending, None), vec![7]);
    assert_eq!(
        range((Un, In(1 << 40)), Order::Descending, Some(2)),
        vec![1 << 40, 300]
    );
    assert_eq!(
        range((Un, Un), Order::Ascending, Some(0)),
        Vec::<u64>::new()
    );
    assert_eq!(
        range((In(9), In(8)), Order::Ascending, None),
        Vec::<u64>::new(),
        "inverted"
    );
    assert_eq!(
        range((Ex(7), Ex(7)), Order::Ascending, None),
        Vec::<u64>::new()
    );
    assert_eq!(
        range((In(7), Ex(7)), Order::Descending, None),
        Vec::<u64>::new()
    );
    assert_eq!(range((In(7), In(7)), Order::Descending, None), vec![7]);
    assert_eq!(
        range((In(u64::MAX), Un), Order::Ascending, None),
        Vec::<u64>::new()
    );

    let mut batch = WriteBatch::new();
    for (a, b) in [
        (1u16, vec![]),
        (1, vec![0]),
        (1, vec![0, 0]),
        (1, vec![1]),
        (2, vec![]),
    ] {
        batch.put::<Pairs>(&(a, b), &0);
    }
    store.commit(batch).unwrap();
    // Every key of the first component `1`, however long its second: from (1, []) up to
    // (2, []) excluded.
    assert_eq!(
        keys_of(
            store
                .range::<Pairs>((1, vec![])..(2, vec![]), Order::Ascending, None)
                .unwrap()
        ),
        vec![(1, vec![]), (1, vec![0]), (1, vec![0, 0]), (1, vec![1])]
    );
    assert_eq!(
        keys_of(
            store
                .range::<Pairs>(..(1, vec![1]), Order::Descending, Some(2))
                .unwrap()
        ),
        vec![(1, vec![0, 0]), (1, vec![0])]
    );
    assert_eq!(store.last::<Pairs>().unwrap(), Some(((2, vec![]), 0)));

    let mut batch = WriteBatch::new();
    batch.delete::<Numbers>(&300);
    batch.delete::<Numbers>(&12345);
    store.commit(batch).unwrap();
    assert_eq!(store.get::<Numbers>(&300).unwrap(), None);
    assert_eq!(store.scan::<Numbers>().unwrap().len(), 3);
    store.commit(WriteBatch::new()).unwrap();

    let mut batch = WriteBatch::new();
    batch.delete::<Numbers>(&(1 << 40));
    store.commit(batch).unwrap();
    assert_eq!(
        store.last::<Numbers>().unwrap(),
        Some((7, b"seven".to_vec())),
        "after a delete"
    );
}

#[test]
fn memory_backend_conforms() {
    conformance(&MemoryStorage::new());
}

#[test]
fn sled_backend_conforms_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStorage::open(dir.path()).unwrap();
        conformance(&store);
    }
    let store = SledStorage::open(dir.path()).unwrap();
    assert_eq!(store.get::<Numbers>(&7).unwrap(), Some(b"seven".to_vec()));
    assert_eq!(store.get::<Num>(&2).unwrap(), Some(99));
}

#[test]
fn undecodable_values_are_reported_with_their_table() {
    struct Wide;
    impl Table for Wide {
        const NAME: &'static str = "num";
        type Key = u64;
        type Value = u64;
    }
    let store = MemoryStorage::new();
    let mut batch = WriteBatch::new();
    batch.put::<Num>(&1, &5);
    store.commit(batch).unwrap();
    match store.get::<Wide>(&1) {
        Err(StorageError::Decode {
            table: "num",
            what: "value",
            ..
        }) => {}
        other => panic!("expected a decode error, got {other:?}"),
    }
}

/// One random case: the writes, then a range read.
#[derive(Debug, Clone)]
struct RangeCase {
    /// Committed one batch after another: `Some(v)` puts, `None` deletes.
    batches: Vec<Vec<(u64, Option<u8>)>>,
    start: Bound<u64>,
    end: Bound<u64>,
    order: Order,
    limit: Option<usize>,
}

/// Keys mostly from a small domain, so that bounds often hit stored keys and deletes hit
/// earlier puts, plus the extremes.
fn a_key() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 0u64..64, 1 => Just(u64::MAX), 1 => any::<u64>()]
}

fn a_bound() -> impl Strategy<Value = Bound<u64>> {
    prop_oneof![
        Just(Bound::Unbounded),
        a_key().prop_map(Bound::Included),
        a_key().prop_map(Bound::Excluded),
    ]
}

fn a_case() -> impl Strategy<Value = RangeCase> {
    let op = (a_key(), prop::option::weighted(0.8, any::<u8>()));
    (
        prop::collection::vec(prop::collection::vec(op, 0..24), 1..4),
        a_bound(),
        a_bound(),
        prop_oneof![Just(Order::Ascending), Just(Order::Descending)],
        prop::option::of(0usize..6),
    )
        .prop_map(|(batches, start, end, order, limit)| RangeCase {
            batches,
            start,
            end,
            order,
            limit,
        })
}

/// Applies `case`'s writes to `store` and to a model, with a neighbouring table written as
/// well; after each batch the last entry matches the model's; at the end the range read
/// equals the model's entries, filtered, ordered and cut to the limit.
fn check_range_case(store: &dyn Storage, case: &RangeCase) -> Result<(), TestCaseError> {
    struct Neighbour;
    impl Table for Neighbour {
        // Sorts right after `Neighbours`'s keys' prefix, and is its name's prefix.
        const NAME: &'static str = "neighbour";
        type Key = u64;
        type Value = u8;
    }
    struct Neighbours;
    impl Table for Neighbours {
        const NAME: &'static str = "neighbours";
        type Key = u64;
        type Value = u8;
    }
    let mut model = BTreeMap::new();
    let mut neighbour = BTreeMap::new();
    for ops in &case.batches {
        let mut batch = WriteBatch::new();
        for (key, value) in ops {
            match value {
                Some(v) => {
                    batch.put::<Neighbours>(key, v);
                    batch.put::<Neighbour>(&key.wrapping_add(1), v);
                    model.insert(*key, *v);
                    neighbour.insert(key.wrapping_add(1), *v);
                }
                None => {
                    batch.delete::<Neighbours>(key);
                    model.remove(key);
                }
            }
        }
        store.commit(batch).unwrap();
        prop_assert_eq!(
            store.last::<Neighbours>().unwrap(),
            model.last_key_value().map(|(k, v)| (*k, *v))
        );
        prop_assert_eq!(
            store.first::<Neighbours>().unwrap(),
            model.first_key_value().map(|(k, v)| (*k, *v))
        );
        prop_assert_eq!(
            store.last::<Neighbour>().unwrap(),
            neighbour.last_key_value().map(|(k, v)| (*k, *v))
        );
    }
    let range = (case.start, case.end);
    let mut expected: Vec<(u64, u8)> = store
        .scan::<Neighbours>()
        .unwrap()
        .into_iter()
        .filter(|(k, _)| std::ops::RangeBounds::contains(&range, k))
        .collect();
    prop_assert_eq!(
        &expected,
        &model
            .iter()
            .map(|(k, v)| (*k, *v))
            .filter(|(k, _)| std::ops::RangeBounds::contains(&range, k))
            .collect::<Vec<_>>(),
        "the scan matches the model"
    );
    if case.order == Order::Descending {
        expected.reverse();
    }
    expected.truncate(case.limit.unwrap_or(usize::MAX));
    prop_assert_eq!(
        store
            .range::<Neighbours>(range, case.order, case.limit)
            .unwrap(),
        expected
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn memory_range_reads_equal_a_filtered_scan(case in a_case()) {
        check_range_case(&MemoryStorage::new(), &case)?;
    }

    #[test]
    fn sled_range_reads_equal_a_filtered_scan(case in a_case()) {
        let dir = tempfile::tempdir().unwrap();
        check_range_case(&SledStorage::open(dir.path()).unwrap(), &case)?;
    }
}

/// Enough keys that sled splits its tree into many nodes: ranges cross node boundaries in
/// both directions.
#[test]
fn sled_ranges_span_many_tree_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStorage::open(dir.path()).unwrap();
    let mut batch = WriteBatch::new();
    for k in (0..20_000u64).step_by(2) {
        batch.put::<Numbers>(&k, &vec![0; 64]);
        batch.put::<Num>(&k, &1);
    }
    store.commit(batch).unwrap();
    let up = keys_of(
        store
            .range::<Numbers>(3..=15_001, Order::Ascending, None)
            .unwrap(),
    );
    assert_eq!(up, (4..=15_000).step_by(2).collect::<Vec<u64>>());
    let down = keys_of(
        store
            .range::<Numbers>(..19_000, Order::Descending, Some(5_000))
            .unwrap(),
    );
    let even_below_19_000 = (0..9_500u64).rev().map(|i| 2 * i);
    assert_eq!(down, even_below_19_000.take(5_000).collect::<Vec<u64>>());
    assert_eq!(store.last::<Numbers>().unwrap().map(|e| e.0), Some(19_998));
    assert_eq!(store.first::<Num>().unwrap(), Some((0, 1)));
}
