import datetime as dt

import keras
import numpy as np
import pyarrow as pa
import pytest
import tensorflow as tf
from deltalake import write_deltalake

from core.errors import PipelineError
from features.spec import GBDT_LEAVES, Feature
from models.feature_arrays import feature_arrays
from models.input_cache import Packing, PassCache
from models.inputs import LeafLookup, TrainingInput, kept_negatives
from models.preprocessing import HashedIds
from models.sample_batches import Shuffle, latest_snapshot, record_batches

D = dt.date(2024, 1, 3)
DAY = dt.timedelta(days=1)
FEATURES = (
    # Buckets enough that the users of a test keep distinct ids once hashed (TrainingInput.dataset hashes them).
    Feature("user_id", "categorical", "string", ("wide",), buckets=1 << 40),
    Feature("user_n_click_7d", "numeric", "bigint", ("deep",), log1p=True),
    Feature("item_genres", "multi_categorical", "string", ("deep",), buckets=10, max_length=2),
)


def write_samples(path, rows):
    """rows: (day, user, item, clicks or None, genres or None, label)."""
    table = pa.table({
        "dt": pa.array([r[0] for r in rows], pa.date32()), "user_id": [r[1] for r in rows],
        "item_id": [r[2] for r in rows], "user_n_click_7d": pa.array([r[3] for r in rows], pa.int64()),
        "item_genres": pa.array([r[4] for r in rows], pa.list_(pa.string())), "label_click": [r[5] for r in rows],
    })
    write_deltalake(str(path), table, partition_by=["dt"], mode="append")


ROWS = [(D - 2 * DAY, "u1", "i1", 3, ["a", "b", "c"], 1), (D - DAY, "u2", "i2", None, None, 0),
        (D - DAY, "u3", "i1", 1, [], 1), (D, "u4", "i9", 7, ["z"], 0)]


def test_reads_exactly_the_rows_of_the_requested_days_as_model_inputs(tmp_path):
    write_samples(tmp_path / "samples", ROWS)
    data = TrainingInput(latest_snapshot(str(tmp_path / "samples")), FEATURES, {"ctr": "label_click"}, batch_size=2)
    got = list(data.batches(D - 2 * DAY, D - DAY))
    users = [u for x, _ in got for u in x["user_id"].reshape(-1)]
    assert sorted(users) == ["u1", "u2", "u3"]  # nothing of D
    merged = {u: (c, g, y) for x, y in got for u, c, g, y in
              zip(x["user_id"].reshape(-1), x["user_n_click_7d"].reshape(-1), x["item_genres"].tolist(),
                  y["ctr"].reshape(-1))}
    assert merged["u1"][1:] == (["a", "b"], 1.0)  # lists cut to max_length
    assert np.isnan(merged["u2"][0]) and merged["u2"][1] == ["", ""]  # missing: NaN and padding
    assert merged["u3"][1] == ["", ""] and merged["u3"][0] == 1.0
    assert all(x["user_n_click_7d"].dtype == np.float32 and x["item_genres"].shape[1] == 2 for x, _ in got)


def test_numeric_batches_hold_only_the_numeric_features_of_the_training_rows(tmp_path):
    write_samples(tmp_path / "samples", ROWS)
    data = TrainingInput(latest_snapshot(str(tmp_path / "samples")), FEATURES, {"ctr": "label_click"}, batch_size=1)
    batches = list(data.numeric_batches(D - 2 * DAY, D - DAY))
    assert all(set(x) == {"user_n_click_7d"} for x in batches)
    values = np.concatenate([x["user_n_click_7d"].reshape(-1) for x in batches])
    assert sorted(values[~np.isnan(values)].tolist()) == [1.0, 3.0] and np.isnan(values).sum() == 1  # nothing of D


def test_rows_come_day_by_day_whatever_order_the_writer_committed_the_files_in(tmp_path):
    # delta-rs writes partitions concurrently: the log lists the 20 files in a different order each write
    # (a seeded training run saw other batches first and trained other weights).
    days = [dt.date(1998, 4, 1) + k * DAY for k in range(20)]
    table = pa.table({"dt": pa.array([day for day in days for _ in range(3)], pa.date32()), "n": list(range(60))})
    write_deltalake(str(tmp_path / "t"), table, partition_by=["dt"])
    batches = record_batches(latest_snapshot(str(tmp_path / "t")), days[2], days[17], ["dt", "n"], batch_size=2)
    assert [n for batch in batches for n in batch.column("n").to_pylist()] == list(range(6, 54))


def test_the_tf_dataset_yields_the_same_rows_each_epoch(tmp_path):
    write_samples(tmp_path / "samples", ROWS)
    data = TrainingInput(latest_snapshot(str(tmp_path / "samples")), FEATURES, {"ctr": "label_click"}, batch_size=8)
    dataset = data.dataset(D - 2 * DAY, D)
    epochs = [sorted(u for users in epoch_users(data, dataset) for u in users) for _ in range(2)]
    assert epochs == [sorted(HashedIds(1 << 40)(tf.constant(["u1", "u2", "u3", "u4"])).numpy().tolist())] * 2


def test_a_snapshot_pins_the_table_version(tmp_path):
    write_samples(tmp_path / "samples", ROWS[:1])
    pinned = latest_snapshot(str(tmp_path / "samples"))
    write_samples(tmp_path / "samples", ROWS[1:])  # a later write is not seen by the pinned snapshot
    data = TrainingInput(pinned, FEATURES, {"ctr": "label_click"}, batch_size=8)
    assert sum(len(y["ctr"]) for _, y in data.batches(D - 9 * DAY, D)) == 1
    assert latest_snapshot(str(tmp_path / "samples")).version == pinned.version + 1
    with pytest.raises(PipelineError, match="no Delta table at .*nothing; run build_samples first"):
        latest_snapshot(str(tmp_path / "nothing"))


def test_negative_downsampling_keeps_every_positive_and_is_seeded():
    rows = 2000
    batch = pa.RecordBatch.from_pydict({
        "dt": pa.array([D] * rows, pa.date32()), "user_id": [f"u{i}" for i in range(rows)],
        "item_id": ["i"] * rows, "label_click": [1 if i % 10 == 0 else 0 for i in range(rows)]})
    keep = kept_negatives(batch, ["label_click"], 0.25)
    labels = np.array(batch.column("label_click"))
    assert keep[labels == 1].all()
    assert 0.2 < keep[labels == 0].mean() < 0.3
    assert (kept_negatives(batch, ["label_click"], 0.25) == keep).all()
    assert kept_negatives(batch, ["label_click"], 1.0).all()


def test_leaves_are_looked_up_by_sample_key_and_missing_ones_padded(tmp_path):
    leaves = pa.table({"as_of": pa.array([D, D, D - DAY], pa.date32()), "dt": pa.array([D - DAY] * 3, pa.date32()),
                       "user_id": ["u2", "u3", "u2"], "item_id": ["i2", "i1", "i2"],
                       GBDT_LEAVES: pa.array([[1, 4], [0, 5], [9, 9]], pa.list_(pa.int32()))})
    write_deltalake(str(tmp_path / "leaves"), leaves, partition_by=["as_of"])
    lookup = LeafLookup(latest_snapshot(str(tmp_path / "leaves")), D, D - 2 * DAY, D, trees=2)
    batch = pa.RecordBatch.from_pydict({"dt": pa.array([D - DAY, D - DAY, D], pa.date32()),
                                        "user_id": ["u3", "u2", "u9"], "item_id": ["i1", "i2", "i9"]})
    assert lookup(batch).tolist() == [[0, 5], [1, 4], [-1, -1]]  # as_of D's leaves only; unknown key padded


def test_feature_arrays_of_integer_categoricals_use_minus_one_for_missing():
    batch = pa.RecordBatch.from_pydict({"segment": pa.array([3, None], pa.int64())})
    got = feature_arrays(batch, [Feature("segment", "categorical", "bigint", ("wide",), buckets=5)])
    assert got["segment"].tolist() == [[3], [-1]]


def test_hashed_arrays_are_the_ids_the_served_model_computes_from_the_raw_ones():
    batch = pa.RecordBatch.from_pydict({
        "user_id": pa.array(["u1", "", None, "u1"]),
        "item_genres": pa.array([["a", None, "b"], [], None, ["b", ""]], pa.list_(pa.string()))})
    features = [Feature("user_id", "categorical", "string", ("wide",), buckets=7),
                Feature("item_genres", "multi_categorical", "string", ("deep",), buckets=5, max_length=2)]
    raw, hashed = feature_arrays(batch, features), feature_arrays(batch, features, hashed=True)
    for feature in features:
        served = HashedIds(feature.buckets)(tf.constant(raw[feature.name].astype(str))).numpy()
        np.testing.assert_array_equal(hashed[feature.name], served)
        assert hashed[feature.name].dtype == np.int64
    u1, a, b = (int(tf.strings.to_hash_bucket_fast(v, n)) for v, n in (("u1", 7), ("a", 5), ("b", 5)))
    assert hashed["user_id"].tolist() == [[u1], [-1], [-1], [u1]]  # "" and null are absent
    assert hashed["item_genres"].tolist() == [[a, -1], [-1, -1], [-1, -1], [b, -1]]  # cut to 2, padded with -1


def test_a_cvr_model_reads_clicked_rows_only(tmp_path):
    write_samples(tmp_path / "samples", ROWS)
    data = TrainingInput(latest_snapshot(str(tmp_path / "samples")), FEATURES, {"ctr": "label_click"}, batch_size=8,
                         only_rows_with="label_click")
    assert sorted(u for x, _ in data.batches(D - 2 * DAY, D) for u in x["user_id"].reshape(-1)) == [
        "u1", "u3"]
    assert [u for _, users, _ in data.evaluation_batches(D - DAY, ["label_click"]) for u in users] == ["u3"]


def write_days(path, days: int, rows_per_day: int):
    """Each day written as two files, positives then negatives (as build_samples' union writes them): a reader that
    goes file by file sees one-sided runs of one day."""
    first = dt.date(1998, 4, 1)
    for label in (1, 0):
        table = pa.table({"dt": pa.array([first + k * DAY for k in range(days) for _ in range(rows_per_day)],
                                         pa.date32()),
                          "user_id": [f"u{k}_{i}_{label}" for k in range(days) for i in range(rows_per_day)],
                          "item_id": ["i"] * (days * rows_per_day), "user_n_click_7d": pa.array(
                              [i for _ in range(days) for i in range(rows_per_day)], pa.int64()),
                          "item_genres": pa.array([["a"]] * (days * rows_per_day), pa.list_(pa.string())),
                          "label_click": [label] * (days * rows_per_day)})
        write_deltalake(str(path), table, partition_by=["dt"], mode="append")
    return first, first + (days - 1) * DAY


def epoch_users(data: TrainingInput, dataset) -> list[list[int]]:
    """The hashed user ids of each batch of an epoch of data's dataset."""
    packing = data.packing()
    return [np.asarray(packing.unpack(x)["user_id"]).reshape(-1).tolist() for x, _ in dataset]


def test_shuffled_batches_mix_days_and_labels_at_the_population_rate(tmp_path):
    first, last = write_days(tmp_path / "samples", days=10, rows_per_day=200)  # 4000 rows in 20 files
    data = TrainingInput(latest_snapshot(str(tmp_path / "samples")), FEATURES, {"ctr": "label_click"},
                         # Every file open, a chunk of each per round: the buffer holds both labels of every day
                         # whatever order the (randomly named) files come in, so the bounds below hold by 6 sd.
                         batch_size=200, shuffle=Shuffle(buffer_rows=1000, open_files=20, chunk_rows=50))
    batches = list(data.batches(first, last, np.random.default_rng(1)))
    users = [u for x, _ in batches for u in x["user_id"].reshape(-1)]
    assert sorted(users) == sorted(f"u{k}_{i}_{label}" for k in range(10) for i in range(200) for label in (0, 1))
    assert all(len(y["ctr"]) == 200 for _, y in batches)
    for x, y in batches[:-1]:
        assert 0.3 < y["ctr"].mean() < 0.7  # a file-order batch would be all 0 or all 1
        assert len({u.split("_")[0] for u in x["user_id"].reshape(-1)}) >= 3  # and of one day
    in_file_order = [y["ctr"].mean() for _, y in data.batches(first, last)]
    assert set(in_file_order) == {0.0, 1.0}


def test_each_epoch_has_its_own_order_and_a_seed_gives_the_same_epochs(tmp_path):
    first, last = write_days(tmp_path / "samples", days=4, rows_per_day=50)
    snapshot = latest_snapshot(str(tmp_path / "samples"))

    def epochs(seed: int) -> list[list[list[int]]]:
        data = TrainingInput(snapshot, FEATURES, {"ctr": "label_click"}, batch_size=32, seed=seed,
                             shuffle=Shuffle(buffer_rows=100, open_files=2, chunk_rows=20))
        dataset = data.dataset(first, last)
        return [epoch_users(data, dataset) for _ in range(2)]

    once, again, other = epochs(7), epochs(7), epochs(8)
    assert once == again
    assert once[0] != once[1] and once != other
    assert sorted(sum(once[0], [])) == sorted(sum(once[1], []))  # every row once per epoch
    in_order = TrainingInput(snapshot, FEATURES, {"ctr": "label_click"}, batch_size=32)
    unshuffled = in_order.dataset(first, last, shuffle=False)
    assert epoch_users(in_order, unshuffled) == epoch_users(in_order, unshuffled)


def test_downsampled_negatives_leave_shuffled_batches_full(tmp_path):
    first, last = write_days(tmp_path / "samples", days=4, rows_per_day=100)
    data = TrainingInput(latest_snapshot(str(tmp_path / "samples")), FEATURES, {"ctr": "label_click"},
                         batch_size=50, negative_keep_rate=0.5, shuffle=Shuffle(buffer_rows=200, open_files=2))
    sizes = [len(y["ctr"]) for _, y in data.batches(first, last, np.random.default_rng(0))]
    positives = sum(float(y["ctr"].sum()) for _, y in data.batches(first, last, np.random.default_rng(0)))
    assert positives == 400 and all(size == 50 for size in sizes[:-1])


def test_later_epochs_come_from_memory_when_the_pass_fits_and_keep_the_seeded_shuffle_contract(tmp_path):
    first, last = write_days(tmp_path / "samples", days=4, rows_per_day=50)
    snapshot = latest_snapshot(str(tmp_path / "samples"))

    def epochs(seed: int, cache_bytes: int, shuffle: bool = True, count: int = 3) -> list[list[list[int]]]:
        data = TrainingInput(snapshot, FEATURES, {"ctr": "label_click"}, batch_size=32, seed=seed,
                             shuffle=Shuffle(buffer_rows=100, open_files=2, chunk_rows=20), cache_bytes=cache_bytes)
        dataset = data.dataset(first, last, shuffle=shuffle)
        return [epoch_users(data, dataset) for _ in range(count)]

    streamed, cached = epochs(7, cache_bytes=0), epochs(7, cache_bytes=1 << 20)
    assert cached[0] == streamed[0]  # the first pass is read from Delta either way
    assert cached[1] != streamed[1] and cached[1] != cached[2] and cached[1] != cached[0]  # memory: new orders
    assert all(sorted(sum(epoch, [])) == sorted(sum(streamed[0], [])) for epoch in cached)  # every row once
    assert all(len(batch) == 32 for epoch in cached for batch in epoch[:-1])
    assert epochs(7, cache_bytes=1 << 20) == cached and epochs(8, cache_bytes=1 << 20)[1] != cached[1]
    # Not shuffled (early-stopping days): every pass from memory is the pass read from Delta, batch for batch.
    assert epochs(7, cache_bytes=1 << 20, shuffle=False) == [epochs(7, cache_bytes=0, shuffle=False)[0]] * 3
    # A pass over the limit is not kept: every epoch streams, as without a cache.
    assert epochs(7, cache_bytes=1000) == streamed


def packing_of(x: dict, y: dict) -> Packing:
    """The packing of columns shaped as these arrays."""
    return Packing(tuple({name: tf.TensorSpec((None, *v.shape[1:]), tf.as_dtype(v.dtype)) for name, v in side.items()}
                         for side in (x, y)))


def test_a_pass_cache_shares_no_memory_with_the_arrays_it_is_given_or_hands_out():
    # tf.data may write into a yielded array's memory (buffer forwarding); here the caller does it by hand.
    given = {"ids": np.array([[0], [1], [2]], np.int64)}, {"ctr": np.array([[0.0], [1.0], [0.0]], np.float32)}
    packing = packing_of(*given)
    blocks, labels = packing.pack(*given)
    given[0]["ids"][:], given[1]["ctr"][:] = -1, -1.0  # packed arrays are copies
    cache = PassCache(packing, limit_bytes=1 << 10)
    cache.start()
    cache.add((blocks, labels))
    blocks["packed_int64"][:], labels["ctr"][:] = -1, -1.0
    cache.finish()
    for rng in (None, np.random.default_rng(0)):
        for handed_blocks, handed_labels in cache.batches(rng, 2):
            handed_blocks["packed_int64"][:], handed_labels["ctr"][:] = -1, -1.0
    assert cache.rows[0]["ids"].reshape(-1).tolist() == [0, 1, 2]
    assert cache.rows[1]["ctr"].reshape(-1).tolist() == [0.0, 1.0, 0.0]


def test_a_pass_cache_joins_what_it_kept_and_drops_a_pass_over_its_limit():
    def part(first: int) -> tuple[dict, dict]:
        return {"ids": np.array([[first], [first + 1]], np.int64)}, {"ctr": np.array([[0.0], [1.0]], np.float32)}

    packing = packing_of(*part(0))
    cache = PassCache(packing, limit_bytes=48)  # two parts of 24 bytes (2 ids, 2 labels)
    cache.start()
    for first in (0, 2):
        cache.add(packing.pack(*part(first)))
    cache.finish()
    x, y = cache.rows
    assert x["ids"].tolist() == [[0], [1], [2], [3]] and y["ctr"].reshape(-1).tolist() == [0.0, 1.0, 0.0, 1.0]
    assert [b["packed_int64"].reshape(-1).tolist() for b, _ in cache.batches(None, 3)] == [[0, 1, 2], [3]]
    permuted = [i for b, _ in cache.batches(np.random.default_rng(0), 3) for i in b["packed_int64"].reshape(-1)]
    assert sorted(permuted) == [0, 1, 2, 3]
    over = PassCache(packing, limit_bytes=47)
    over.start()
    for first in (0, 2):
        over.add(packing.pack(*part(first)))
    over.finish()
    assert over.rows is None


def test_a_packing_puts_columns_side_by_side_by_dtype_and_a_pass_cache_hands_out_each_row_whole():
    def part(first: int) -> tuple[dict, dict]:
        rows = np.arange(first, first + 2)
        return ({"history": np.stack([rows * 10, rows * 10 + 1, rows * 10 + 2], axis=1).astype(np.int64),
                 "item": rows.reshape(-1, 1).astype(np.int64), "price": (rows + 0.5).reshape(-1, 1).astype(np.float32),
                 "age": (rows * 2).astype(np.float32)},  # a scalar feature: shape () per row
                {"ctr": (rows % 2).reshape(-1, 1).astype(np.float32)})

    packing = packing_of(*part(0))
    # int64: history's 3 columns then item's; float32: price then age; the label apart.
    blocks, labels = packing.pack(*part(0))
    assert blocks["packed_int64"].tolist() == [[0, 1, 2, 0], [10, 11, 12, 1]]
    assert blocks["packed_float32"].tolist() == [[0.5, 0.0], [1.5, 2.0]] and labels["ctr"].tolist() == [[0.0], [1.0]]
    cache = PassCache(packing, limit_bytes=1 << 10)
    cache.start()
    for first in (0, 2):
        cache.add(packing.pack(*part(first)))
    cache.finish()
    assert cache.full
    assert cache.rows[0]["history"].tolist() == [[0, 1, 2], [10, 11, 12], [20, 21, 22], [30, 31, 32]]
    for blocks, y in cache.batches(np.random.default_rng(3), 3):
        # The trained model's side: the features of a chunk's blocks, each of its own shape and dtype.
        x = {name: np.asarray(v) for name, v in packing.unpack({k: tf.constant(v) for k, v in blocks.items()}).items()}
        item = x["item"].reshape(-1)
        assert x["history"].tolist() == [[i * 10, i * 10 + 1, i * 10 + 2] for i in item]
        assert x["price"].reshape(-1).tolist() == [i + 0.5 for i in item]
        assert x["age"].tolist() == [i * 2.0 for i in item]
        assert y["ctr"].reshape(-1).tolist() == [float(i % 2) for i in item]
        assert {name: (v.dtype, v.shape[1:]) for name, v in {**x, **y}.items()} == {
            "history": (np.int64, (3,)), "item": (np.int64, (1,)), "price": (np.float32, (1,)),
            "age": (np.float32, ()), "ctr": (np.float32, (1,))}


def test_a_model_on_blocks_scores_as_the_model_on_its_features_and_trains_the_models_weights():
    x = {"item": np.array([[3], [1]], np.int64), "history": np.array([[1, 2, 0], [3, 0, 0]], np.int64),
         "price": np.array([[0.5], [2.0]], np.float32)}
    y = {"ctr": np.array([[1.0], [0.0]], np.float32)}
    inputs = {"item": keras.Input((1,), dtype="int64", name="item"),
              "history": keras.Input((3,), dtype="int64", name="history"), "price": keras.Input((1,), name="price")}
    table = keras.layers.Embedding(4, 2)
    pooled = keras.layers.Concatenate()([keras.layers.Flatten()(table(inputs["item"])),
                                         keras.layers.GlobalAveragePooling1D()(table(inputs["history"])),
                                         inputs["price"]])
    model = keras.Model(inputs, {"ctr": keras.layers.Dense(1, activation="sigmoid", name="ctr")(pooled)})
    packing = packing_of(x, y)
    on_blocks = packing.model_on_blocks(model)
    blocks, labels = packing.pack(x, y)
    assert sorted(blocks) == ["packed_float32", "packed_int64"] and on_blocks.output_names == ["ctr"]
    np.testing.assert_allclose(on_blocks.predict(blocks, verbose=0)["ctr"], model.predict(x, verbose=0)["ctr"])
    on_blocks.compile(optimizer="sgd", loss={"ctr": "binary_crossentropy"})
    before = [w.copy() for w in model.get_weights()]
    on_blocks.fit(blocks, labels, epochs=1, verbose=0)
    assert all(not np.allclose(old, new) for old, new in zip(before, model.get_weights()))
