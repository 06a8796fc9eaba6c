import datetime as dt

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F

from core.config import load_config
from datasets.fetch import MissingSourceError
from features.schema import EVENTS, EVENTS_QUARANTINE
from jobs.ingest_events import NoInputError, day_has_events, empty_days, ingest_events
from jobs.raw_events import classify_raw_events, event_id_of
from tests.conftest import MOVIELENS, SYNTHETIC, TAOBAO, config_for, lines_frame

# Asia/Shanghai is UTC+8: local 2017-11-25 00:00 is 1511539200.
LOCAL_1125_0030 = 1511541000  # UTC 11-24 16:30: a UTC day boundary would put it on 11-24
LOCAL_1124_2330 = 1511537400  # before the dataset window (starts 11-25)
LOCAL_1125_2330 = 1511623800
LOCAL_1126_0030 = 1511627400
D = dt.date(2017, 11, 25)

TAOBAO_LINES = [
    f"1,100,5,pv,{LOCAL_1125_0030}",
    f"1,101,5,pv,{LOCAL_1124_2330}",
    f"1,102,5,pv,{LOCAL_1125_2330}",
    f"1,103,5,pv,{LOCAL_1126_0030}",
    f"1,100,5,pv,{LOCAL_1125_0030}",  # exact copy of the first line
    f",100,5,pv,{LOCAL_1125_0030}",
    f"2,,5,pv,{LOCAL_1125_0030}",
    f"2,100,5,click,{LOCAL_1125_0030}",
    "2,100,5,pv,yesterday",
    "2,100,5,pv",
    f"2,100,5,pv,{LOCAL_1125_0030},extra",
    f"3,100,5,buy,{LOCAL_1125_0030}",
    f"1,100,5,cart,{LOCAL_1125_0030}",
]


# event_id is persisted and joins tables across days, so it must never change between releases: these are
# pinned values of the content hash (user, item, type, time, value), not computed by the code under test.
EVENT_IDS = {
    ("1", "100", "pv", LOCAL_1125_0030): "45353c34bcc5cd0c4cb706832116d743",
    ("1", "102", "pv", LOCAL_1125_2330): "876ec7a6ec1636f3802778b140f28050",
    ("3", "100", "buy", LOCAL_1125_0030): "fb603e4bfe5655d1d78a9eb2fb4faa16",
    ("1", "100", "cart", LOCAL_1125_0030): "933889fc8b502527f9b277cf819b978d",
}


def event_id(user, item, event_type, epoch_seconds):
    return EVENT_IDS[(user, item, event_type, epoch_seconds)]


def utc(epoch_seconds):
    return dt.datetime.fromtimestamp(epoch_seconds, dt.timezone.utc).replace(tzinfo=None)


def collect(frame):
    return sorted(frame.collect(), key=lambda row: (row["raw"], row["reason"] or ""))


def test_each_row_gets_its_reason_and_delivery_day(spark):
    taobao = load_config(["conf/local.yaml", TAOBAO]).dataset
    got = collect(classify_raw_events(lines_frame(spark, TAOBAO_LINES), taobao, [D]))
    good = dict(dt=D, value=None)
    expected = sorted([
        Row(raw=TAOBAO_LINES[0], reason=None, event_id=event_id("1", "100", "pv", LOCAL_1125_0030),
            user_id="1", item_id="100", event_type="pv", event_time=utc(LOCAL_1125_0030), **good),
        Row(raw=TAOBAO_LINES[1], reason="out_of_window", event_id=None, user_id="1", item_id="101",
            event_type="pv", event_time=utc(LOCAL_1124_2330), **good),  # before the window: its first day's
        Row(raw=TAOBAO_LINES[2], reason=None, event_id=event_id("1", "102", "pv", LOCAL_1125_2330),
            user_id="1", item_id="102", event_type="pv", event_time=utc(LOCAL_1125_2330), **good),
        Row(raw=TAOBAO_LINES[4], reason="duplicate", event_id=None, user_id="1", item_id="100",
            event_type="pv", event_time=utc(LOCAL_1125_0030), **good),
        Row(raw=TAOBAO_LINES[5], reason="null_user_id", event_id=None, user_id=None, item_id="100",
            event_type="pv", event_time=utc(LOCAL_1125_0030), **good),
        Row(raw=TAOBAO_LINES[6], reason="null_item_id", event_id=None, user_id="2", item_id=None,
            event_type="pv", event_time=utc(LOCAL_1125_0030), **good),
        Row(raw=TAOBAO_LINES[7], reason="unknown_event_type", event_id=None, user_id="2", item_id="100",
            event_type=None, event_time=utc(LOCAL_1125_0030), **good),
        Row(raw=TAOBAO_LINES[8], reason="bad_event_time", event_id=None, user_id="2", item_id="100",
            event_type="pv", event_time=None, **good),  # no time: delivered on the window's first day
        Row(raw=TAOBAO_LINES[9], reason="malformed", event_id=None, user_id="2", item_id="100",
            event_type="pv", event_time=None, **good),
        Row(raw=TAOBAO_LINES[10], reason="malformed", event_id=None, user_id="2", item_id="100",
            event_type="pv", event_time=utc(LOCAL_1125_0030), **good),
        Row(raw=TAOBAO_LINES[11], reason=None, event_id=event_id("3", "100", "buy", LOCAL_1125_0030),
            user_id="3", item_id="100", event_type="buy", event_time=utc(LOCAL_1125_0030), **good),
        Row(raw=TAOBAO_LINES[12], reason=None, event_id=event_id("1", "100", "cart", LOCAL_1125_0030),
            user_id="1", item_id="100", event_type="cart", event_time=utc(LOCAL_1125_0030), **good),
    ], key=lambda row: (row["raw"], row["reason"] or ""))
    # Line 3 (local 11-26 00:30) is delivered with day 11-26, not 11-25.
    assert [row.asDict() for row in got] == [row.asDict() for row in expected]


def test_a_dump_row_is_delivered_on_its_own_local_day(spark):
    taobao = load_config(["conf/local.yaml", TAOBAO]).dataset
    got = classify_raw_events(lines_frame(spark, TAOBAO_LINES), taobao, [dt.date(2017, 11, 26)]).collect()
    assert [(row["raw"], row["reason"], row["dt"]) for row in got] == [
        (TAOBAO_LINES[3], None, dt.date(2017, 11, 26))]


def test_an_epoch_outside_sparks_timestamp_range_is_a_bad_time_not_a_failed_day(spark):
    taobao = load_config(["conf/local.yaml", TAOBAO]).dataset
    last_second = 253402214399  # 9999-12-30 23:59:59 UTC, the latest accepted time
    lines = [f"2,100,5,pv,{LOCAL_1125_0030}000000",  # microseconds in a seconds column: overflowed a long before
             f"2,100,5,pv,{last_second + 1}", "2,100,5,pv,-62135510401", f"2,100,5,pv,{last_second}"]
    frame = lines_frame(spark, lines)
    # Rows without a usable time arrive with the window's first day (D), a valid time after it with its last day.
    assert sorted((row["raw"], row["reason"]) for row in classify_raw_events(frame, taobao, [D]).collect()) == sorted(
        [(line, "bad_event_time") for line in lines[:3]])
    assert [(row["raw"], row["reason"], row["event_time"]) for row in
            classify_raw_events(frame, taobao, [taobao.window.end]).collect()] == [
        (lines[3], "out_of_window", dt.datetime(9999, 12, 30, 23, 59, 59))]


def test_a_decimal_epoch_keeps_its_fraction_and_other_numbers_are_bad_times(spark):
    taobao = load_config(["conf/local.yaml", TAOBAO]).dataset
    lines = [f"2,100,5,pv,{LOCAL_1125_0030}.0", f"2,101,5,pv,{LOCAL_1125_0030}.25",  # a float column's way
             f"2,102,5,pv,{LOCAL_1125_0030}.", "2,103,5,pv,1.5e9", f"2,104,5,pv,{LOCAL_1125_0030}.1234567891"]
    got = sorted((row["raw"], row["reason"], row["event_time"])
                 for row in classify_raw_events(lines_frame(spark, lines), taobao, [D]).collect())
    at = utc(LOCAL_1125_0030)
    assert got == sorted([(lines[0], None, at), (lines[1], None, at + dt.timedelta(milliseconds=250)),
                          (lines[2], "bad_event_time", None), (lines[3], "bad_event_time", None),
                          (lines[4], "bad_event_time", None)])  # more than 9 decimals: not a time this reads


def test_rating_outside_range_or_not_a_number_is_bad_value(spark):
    movielens = load_config(["conf/local.yaml", MOVIELENS]).dataset
    lines = ["1\t2\t6\t881250949", "1\t3\tx\t881250949", "1\t4\t\t881250949", "1\t5\t3\t881250949"]
    got = classify_raw_events(lines_frame(spark, lines), movielens, [dt.date(1997, 12, 4)])
    rows = sorted(got.collect(), key=lambda row: row["raw"])
    assert [(row["raw"], row["reason"], row["value"]) for row in rows] == [
        ("1\t2\t6\t881250949", "bad_value", 6.0),
        ("1\t3\tx\t881250949", "bad_value", None),
        ("1\t4\t\t881250949", "bad_value", None),
        ("1\t5\t3\t881250949", None, 3.0),
    ]
    assert [row["event_id"] is None for row in rows] == [True, True, True, False]


def test_event_id_depends_on_content_only(spark):
    movielens = load_config(["conf/local.yaml", MOVIELENS]).dataset
    lines = ["1\t5\t3\t881250949", "1\t5\t3.0\t881250949", "1\t5\t4\t881250949", "2\t5\t3\t881250949"]
    ids = {row["raw"]: row["event_id"]
           for row in classify_raw_events(lines_frame(spark, lines), movielens, [dt.date(1997, 12, 4)]).collect()}
    # "3" and "3.0" are the same rating: the second is a duplicate of the first, not a new event.
    assert ids[lines[1]] is None
    assert len({ids[lines[0]], ids[lines[2]], ids[lines[3]]}) == 3
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in (ids[lines[0]], ids[lines[2]]))


def test_an_event_id_prints_each_half_of_the_key_as_16_hex_digits_unsigned(spark):
    # The pinned ids above start with no zero digit; these halves need the padding and the two's complement.
    keys = spark.createDataFrame([(1, -1), (-(2**63), 2**63 - 1), (0, 255)], "high long, low long")
    got = [row[0] for row in keys.select(event_id_of(F.col("high"), F.col("low"))).collect()]
    assert got == ["0000000000000001ffffffffffffffff", "80000000000000007fffffffffffffff",
                   "000000000000000000000000000000ff"]


def test_of_three_copies_the_first_in_read_order_is_kept_and_a_rejected_row_is_never_a_copy(spark):
    movielens = load_config(["conf/local.yaml", MOVIELENS]).dataset
    # The same rating three ways, the same content on a malformed line, and another rating.
    lines = ["1\t5\t3.00\t881250949", "1\t5\t3\t881250949", "1\t5\t3.0\t881250949",
             "1\t5\t3\t881250949\textra", "1\t6\t3\t881250949"]
    got = {row["raw"]: (row["reason"], row["event_id"] is not None)
           for row in classify_raw_events(lines_frame(spark, lines), movielens, [dt.date(1997, 12, 4)]).collect()}
    assert got == {lines[0]: (None, True), lines[1]: ("duplicate", False), lines[2]: ("duplicate", False),
                   lines[3]: ("malformed", False), lines[4]: (None, True)}


def test_a_daily_delivery_quarantines_rows_of_other_days(spark):
    synthetic = load_config(["conf/local.yaml", SYNTHETIC]).dataset
    midnight_ms = 1704153600000  # 2024-01-02 00:00 UTC
    lines = [f"u1,i1,impression,{midnight_ms - 1}", f"u1,i1,impression,{midnight_ms}"]
    got = classify_raw_events(lines_frame(spark, lines), synthetic, [dt.date(2024, 1, 1)])
    assert sorted((row["raw"], row["reason"]) for row in got.collect()) == [
        (lines[0], None), (lines[1], "out_of_window")]


def taobao_config(tmp_path, lines):
    raw = tmp_path / "UserBehavior.csv"
    raw.write_text("\n".join(lines) + "\n")
    return config_for(tmp_path, TAOBAO, dataset={"source": {"path": str(raw)}})


def read_table(spark, cfg, table):
    return spark.read.format("delta").load(cfg.table_path(table))


@pytest.mark.slow
def test_ingest_writes_typed_events_and_quarantine_and_counts_everything(spark, tmp_path):
    cfg = taobao_config(tmp_path, TAOBAO_LINES)
    report = ingest_events(spark, cfg, D)
    assert (report.read, report.written) == (12, 4)
    assert report.quarantined == {"out_of_window": 1, "duplicate": 1, "null_user_id": 1, "null_item_id": 1,
                                  "unknown_event_type": 1, "bad_event_time": 1, "malformed": 2}
    events = read_table(spark, cfg, "events")
    assert events.schema.simpleString() == EVENTS.simpleString()
    assert sorted((r.user_id, r.item_id, r.event_type, r.dt) for r in events.collect()) == [
        ("1", "100", "cart", D), ("1", "100", "pv", D), ("1", "102", "pv", D), ("3", "100", "buy", D)]
    quarantine = read_table(spark, cfg, "events_quarantine")
    assert quarantine.schema.simpleString() == EVENTS_QUARANTINE.simpleString()
    assert quarantine.count() == 8 and {r.dt for r in quarantine.collect()} == {D}
    assert [tuple(r) for r in read_table(spark, cfg, "ingest_log").collect()] == [(12, 4, 8, D)]
    assert empty_days(cfg) == set()


@pytest.mark.slow
def test_the_quarantine_keeps_each_rejected_line_and_each_later_copy_as_delivered(spark, tmp_path):
    copies = [f"1,100,5,pv,{LOCAL_1125_0030}", f"1, 100,5,pv,{LOCAL_1125_0030}", f"1,100 ,5,pv,{LOCAL_1125_0030}"]
    pair = [f"2,101,5,cart,{LOCAL_1125_2330}", f"2,101,5,cart, {LOCAL_1125_2330}"]
    clean = [f"1,103,5,pv,{LOCAL_1126_0030}", copies[0], pair[0], f"3,100,5,buy,{LOCAL_1125_0030}"]
    rejected = f"2,100,5,click,{LOCAL_1125_0030}"
    # Rows of 11-26 (not delivered on D) between them, so that positions count only the day's delivered lines.
    dirty = [clean[0], copies[0], copies[1], copies[2], clean[0], pair[0], rejected, pair[1], clean[3]]

    def quarantine_of(lines):
        cfg = taobao_config(tmp_path, lines)
        report = ingest_events(spark, cfg, D)
        events = sorted((r.user_id, r.item_id, r.event_type) for r in read_table(spark, cfg, "events").collect())
        assert events == [("1", "100", "pv"), ("2", "101", "cart"), ("3", "100", "buy")]
        return report, sorted((r.reason, r.raw) for r in read_table(spark, cfg, "events_quarantine").collect())

    # A clean day writes its quarantine partition empty, without a pass that would find nothing: the first write of
    # the table, whose schema must then take the rows of a later delivery.
    assert quarantine_of(clean)[1] == []
    report, quarantine = quarantine_of(dirty)
    # The 2nd and 3rd of three copies, the 2nd of two (in read order, text as delivered), the rejected line.
    assert quarantine == sorted([("duplicate", copies[1]), ("duplicate", copies[2]), ("duplicate", pair[1]),
                                 ("unknown_event_type", rejected)])
    assert (report.read, report.written, report.quarantined) == (7, 3, {"duplicate": 3, "unknown_event_type": 1})
    assert quarantine_of(clean)[1] == []  # a clean re-delivery replaces the day's quarantine by nothing


@pytest.mark.slow
def test_rerunning_a_day_gives_the_same_partition_and_leaves_other_days_alone(spark, tmp_path):
    cfg = taobao_config(tmp_path, TAOBAO_LINES)
    ingest_events(spark, cfg, D)
    ingest_events(spark, cfg, dt.date(2017, 11, 26))
    before = sorted(read_table(spark, cfg, "events").collect())
    ingest_events(spark, cfg, D)
    after = sorted(read_table(spark, cfg, "events").collect())
    assert after == before
    assert sorted({r.dt for r in after}) == [D, dt.date(2017, 11, 26)]
    assert read_table(spark, cfg, "events_quarantine").count() == 8  # not doubled


def test_a_day_without_input_fails_clearly(spark, tmp_path):
    cfg = taobao_config(tmp_path, TAOBAO_LINES)
    with pytest.raises(NoInputError, match="outside the window"):
        ingest_events(spark, cfg, dt.date(2017, 12, 4))
    daily = config_for(tmp_path, SYNTHETIC, dataset={"source": {"path": str(tmp_path / "raw/dt={ds}")}})
    with pytest.raises(MissingSourceError, match="raw/dt=2024-01-05 does not exist"):
        ingest_events(spark, daily, dt.date(2024, 1, 5))
    (tmp_path / "raw/dt=2024-01-05").mkdir(parents=True)
    (tmp_path / "raw/dt=2024-01-05/part-0.csv").write_text("")  # delivered, but without a row
    with pytest.raises(NoInputError, match="no raw rows for 2024-01-05"):
        ingest_events(spark, daily, dt.date(2024, 1, 5))


@pytest.mark.slow
def test_an_empty_day_of_a_dump_is_replaced_by_nothing_and_reported(spark, tmp_path):
    day = dt.date(2017, 11, 26)
    cfg = taobao_config(tmp_path, TAOBAO_LINES)  # one event and nothing quarantined on 11-26
    ingest_events(spark, cfg, day)
    assert day_has_events(cfg, day)
    cfg = taobao_config(tmp_path, [line for line in TAOBAO_LINES if str(LOCAL_1126_0030) not in line])
    report = ingest_events(spark, cfg, day)  # the dump has no row of 11-26 any more, though it is inside its window
    assert (report.read, report.written, report.quarantined) == (0, 0, {})
    assert str(report) == ("ingest_events 2017-11-26: empty day, the dump has no row of it: nothing written, "
                           "later jobs skip it")
    assert not day_has_events(cfg, day)
    assert read_table(spark, cfg, "events").where(f"dt = '{day}'").count() == 0
    assert empty_days(cfg) == {day}  # its log row was replaced: (1 read, 1 written) before, (0, 0) now
    assert [tuple(r) for r in read_table(spark, cfg, "ingest_log").orderBy("dt").collect()] == [(0, 0, 0, day)]


def test_a_day_whose_rows_are_all_rejected_fails_after_writing_the_quarantine(spark, tmp_path):
    cfg = taobao_config(tmp_path, [f"1,100,5,click,{LOCAL_1125_0030}"])
    with pytest.raises(NoInputError, match="every row of 2017-11-25 was quarantined"):
        ingest_events(spark, cfg, D)
    assert [r.reason for r in read_table(spark, cfg, "events_quarantine").collect()] == ["unknown_event_type"]
