import datetime as dt

import pytest

from core.config import load_config
from core.config_dataset import AttributeTable
from core.errors import PipelineError
from jobs.ingest_attributes import ingest_attributes, one_row_per_id, parse_attributes, read_attribute_snapshot
from tests.conftest import MOVIELENS, TAOBAO, config_for, lines_frame

ITEMS = AttributeTable(
    path="unused", delimiter="\t", header=False, columns=["item_id", "movie_title", "release_year", "class"],
    id_column="item_id", keep=["movie_title", "release_year", "genres"], rename={"class": "genres"},
    int_columns=["release_year"], list_columns={"genres": " "},
)
MOVIELENS_DATASET = load_config(["conf/local.yaml", MOVIELENS]).dataset


def test_attributes_are_typed_and_malformed_rows_marked(spark):
    lines = ["1\tToy Story\t1995\tAnimation Children's Comedy", "2\tGoldenEye\t\tAction", "3\tno year",
             "\tNo Id\t1990\tDrama"]
    got = sorted(parse_attributes(lines_frame(spark, lines), ITEMS, MOVIELENS_DATASET).collect(), key=lambda r: r.raw)
    assert [(r.id, r.reason, r.movie_title, r.release_year, r.genres) for r in got] == [
        (None, "malformed", "No Id", 1990, ["Drama"]),
        ("1", None, "Toy Story", 1995, ["Animation", "Children's", "Comedy"]),
        ("2", None, "GoldenEye", None, ["Action"]),
        ("3", "malformed", "no year", None, None),
    ]


def test_a_list_separator_is_taken_literally_not_as_a_regex(spark):
    piped = AttributeTable(path="unused", delimiter=",", header=False, columns=["item_id", "genres"],
                           id_column="item_id", keep=["genres"], rename={}, int_columns=[],
                           list_columns={"genres": "|"})
    got = parse_attributes(lines_frame(spark, ["1,Action|Comedy"]), piped, MOVIELENS_DATASET).collect()
    assert [r.genres for r in got] == [["Action", "Comedy"]]


def test_one_row_per_id_keeps_the_most_frequent_variant_and_flags_the_conflict(spark):
    lines = ["7\tA\t1990\tDrama", "7\tA\t1990\tDrama", "7\tB\t1990\tDrama", "8\tC\t1991\tWar",
             "9\tZ\t1992\tX", "9\tY\t1992\tX"]
    day = dt.date(1998, 1, 1)
    got = one_row_per_id(parse_attributes(lines_frame(spark, lines), ITEMS, MOVIELENS_DATASET), ITEMS.keep,
                         [day]).collect()
    assert sorted((r.id, r.movie_title, r.conflict, r.dt) for r in got) == [
        ("7", "A", True, day), ("8", "C", False, day), ("9", "Y", True, day)]  # 9: a tie, the smaller raw line wins


@pytest.mark.slow
def test_snapshot_of_movielens_attributes_lands_in_delta(spark, tmp_path):
    users = tmp_path / "u.user"
    users.write_text("user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
                     "1\t24\tM\ttechnician\t85711\n2\t53\tF\tother\t94043\n2\t53\tF\tother\t94043\nbroken\n")
    items = tmp_path / "u.item"
    items.write_text("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                     "1\tToy Story\t1995\tAnimation Comedy\n")
    cfg = config_for(tmp_path, MOVIELENS, dataset={
        "source": {"fetch": "none"},
        "attributes": {"users": {"path": str(users)}, "items": {"path": str(items)}}})
    ds = dt.date(1998, 1, 1)
    report = ingest_attributes(spark, cfg, ds)
    assert "user_attributes: read=4 written=2 malformed=1 ids_with_conflicting_rows=0" in report
    table = spark.read.format("delta").load(cfg.table_path("user_attributes"))
    assert sorted(tuple(r) for r in table.select("user_id", "age", "gender", "dt").collect()) == [
        ("1", 24, "M", ds), ("2", 53, "F", ds)]
    items_table = spark.read.format("delta").load(cfg.table_path("item_attributes")).collect()
    assert [(r.item_id, r.genres) for r in items_table] == [("1", ["Animation", "Comedy"])]
    assert [r.item_id for r in read_attribute_snapshot(spark, cfg, "items", [ds]).collect()] == ["1"]
    # The next day's jobs must not join an absent snapshot as "no attributes".
    with pytest.raises(PipelineError, match="no items snapshot of 1998-01-02 .*run ingest_attributes for 1998-01-02"):
        read_attribute_snapshot(spark, cfg, "items", [ds + dt.timedelta(days=1)])


@pytest.mark.slow
def test_a_snapshot_read_from_a_log_holds_only_what_was_known_before_the_day(spark, tmp_path):
    # Taobao's items come from the event dump (known_at: timestamp). Asia/Shanghai days: 1511539200 is
    # 2017-11-25 00:00 there, so the first two rows are of 11-24, the next three of 11-25 (counted on them, item 100
    # is cat_b) and item 200's row of 11-26.
    dump = tmp_path / "UserBehavior.csv"
    dump.write_text("1,100,cat_a,pv,1511539199\n2,100,cat_a,pv,1511452800\n"
                    "3,100,cat_b,pv,1511539200\n4,100,cat_b,pv,1511600000\n5,100,cat_b,pv,1511610000\n"
                    "6,200,cat_c,pv,1511625600\n"  # item 200 is first seen on 11-26
                    "7,300,cat_d,pv,not_a_time\n")
    cfg = config_for(tmp_path, TAOBAO,
                     dataset={"source": {"path": str(dump)}, "attributes": {"items": {"path": str(dump)}}})
    assert cfg.dataset.attributes.items.known_at == "timestamp"
    day = dt.date(2017, 11, 25)
    report = ingest_attributes(spark, cfg, day)
    assert "item_attributes: read=7 written=1 malformed=1 ids_with_conflicting_rows=0 known_after_start_of_day=4" \
        in report
    snapshot = [tuple(r) for r in read_attribute_snapshot(spark, cfg, "items", [day]).select("item_id", "category_id")
                .collect()]
    assert snapshot == [("100", "cat_a")]  # the two rows of 11-25 that would make it cat_b are not known yet
    ingest_attributes(spark, cfg, day + dt.timedelta(days=2))
    later = read_attribute_snapshot(spark, cfg, "items", [day + dt.timedelta(days=2)]).select("item_id", "category_id")
    assert sorted(tuple(r) for r in later.collect()) == [("100", "cat_b"), ("200", "cat_c")]
    quarantined = spark.read.format("delta").load(cfg.table_path("attributes_quarantine/item_attributes"))
    assert [r.raw for r in quarantined.where(quarantined.dt == day).collect()] == ["7,300,cat_d,pv,not_a_time"]
