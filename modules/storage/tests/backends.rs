//! Behaviour every backend must show: typed round trips, ordered scans, table isolation,
//! deletes, last-write-wins within a batch, and data surviving a reopen (sled).

use manyfold_storage::{
    MemoryStorage, SledStorage, Storage, StorageError, StorageExt, Table, WriteBatch,
};

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

fn conformance(store: &dyn Storage) {
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
    let keys: Vec<u64> = store
        .scan::<Numbers>()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec![2, 7, 300, 1 << 40], "scans are in key order");

    let mut batch = WriteBatch::new();
    batch.delete::<Numbers>(&300);
    batch.delete::<Numbers>(&12345);
    store.commit(batch).unwrap();
    assert_eq!(store.get::<Numbers>(&300).unwrap(), None);
    assert_eq!(store.scan::<Numbers>().unwrap().len(), 3);
    store.commit(WriteBatch::new()).unwrap();
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
