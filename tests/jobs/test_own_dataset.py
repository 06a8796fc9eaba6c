"""The README's "Add your own dataset" example overlays (conf/examples/) on literal files of the formats they read:
a quoted, CRLF CSV (MovieLens' current releases), a `::`-separated log with a latin-1 movies file (MovieLens 1M) and
gzipped JSON Lines with text times (Amazon's review dumps). Every line ends as an event, an attribute row or a
quarantine row with its reason."""
import datetime as dt
import gzip

import pytest
from pyspark.sql import functions as F

from core.config_schema import PipelineConfig
from core.lake import ForeignLakeError
from datasets.movielens import DatasetIntegrityError
from jobs.ingest_attributes import ingest_attributes
from jobs.ingest_events import ingest_events
from tests.conftest import config_for

D = dt.date(1998, 4, 22)
AT_10 = 893239200  # 1998-04-22 10:00 UTC
CSV, DAT = "conf/examples/movielens_csv.yaml", "conf/examples/movielens_dat.yaml"
JSON = "conf/examples/movielens_json.yaml"
ONE_DAY = {"start": D, "end": D}  # a row without a usable time is delivered on the window's first day


def epoch():
    return F.col("event_time").cast("long")


def example_config(tmp_path, overlay: str, files: dict[str, bytes], **dataset) -> PipelineConfig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    cfg = config_for(tmp_path, overlay, dataset=dataset)
    return cfg


def rows(spark, cfg, table, *columns):
    return sorted(tuple(row) for row in spark.read.format("delta").load(cfg.table_path(table)).select(*columns)
                  .collect())


@pytest.mark.slow
def test_a_quoted_crlf_csv_keeps_titles_with_commas_and_quarantines_what_does_not_parse(spark, tmp_path):
    ratings = (f"userId,movieId,rating,timestamp\r\n1,12,4.5,{AT_10}\r\n2,12,5,{AT_10 + 60}\r\n"
               f"3,\"14\",3,{AT_10}\r\n"  # a quoted id is an id
               f"3,18,7,{AT_10}\r\n"  # outside value_range
               f"4,18\",2,{AT_10}\r\n"  # a stray quote: the line is not one CSV record
               f"\r\n").encode()
    movies = ("movieId,title,genres\r\n"
              "12,\"Usual Suspects, The (1995)\",Crime|Thriller\r\n"
              "14,\"Say \"\"Hi\"\" (2001)\",Drama\r\n"
              "18,White \"Balloon (1995),Drama\r\n").encode()  # a stray quote
    cfg = example_config(tmp_path, CSV, {"ratings.csv": ratings, "movies.csv": movies},
                         source={"path": str(tmp_path / "ratings.csv")},
                         attributes={"items": {"path": str(tmp_path / "movies.csv")}})
    report = ingest_events(spark, cfg, D)
    assert (report.read, report.written, report.quarantined) == (5, 3, {"bad_value": 1, "malformed": 1})
    assert rows(spark, cfg, "events", "user_id", "item_id", "value") == [
        ("1", "12", 4.5), ("2", "12", 5.0), ("3", "14", 3.0)]
    assert rows(spark, cfg, "events_quarantine", "reason", "raw") == [
        ("bad_value", f"3,18,7,{AT_10}"), ("malformed", f"4,18\",2,{AT_10}")]  # as delivered, less the CR
    assert "item_attributes: read=3 written=2 malformed=1" in ingest_attributes(spark, cfg, D)
    assert rows(spark, cfg, "item_attributes", "movieId", "title", "genres") == [
        ("12", "Usual Suspects, The (1995)", ["Crime", "Thriller"]), ("14", 'Say "Hi" (2001)', ["Drama"])]


@pytest.mark.slow
def test_gzipped_files_are_read_as_their_text_by_lines_or_whole(spark, tmp_path):
    ratings = f"userId,movieId,rating,timestamp\r\n1,12,4.5,{AT_10}\r\n2,\"12\",5,{AT_10 + 60}\r\n3,12,9,{AT_10}\r\n"
    movies = "movieId,title,genres\r\n12,\"Usual Suspects, The (1995)\",Crime|Thriller\r\n"
    files = {"ratings.csv.gz": gzip.compress(ratings.encode()), "movies.csv.gz": gzip.compress(movies.encode())}
    for multiline in (False, True):  # each line, or each file read whole and cut into records
        cfg = example_config(tmp_path / str(multiline), CSV, files, attributes={"items": {"path": str(
            tmp_path / str(multiline) / "movies.csv.gz")}}, source={"path": str(
                tmp_path / str(multiline) / "ratings.csv.gz"), "multiline": multiline})
        report = ingest_events(spark, cfg, D)
        assert (report.read, report.written, report.quarantined) == (3, 2, {"bad_value": 1})
    assert "item_attributes: read=1 written=1 malformed=0" in ingest_attributes(spark, cfg, D)
    assert rows(spark, cfg, "item_attributes", "movieId", "title") == [("12", "Usual Suspects, The (1995)")]


@pytest.mark.slow
def test_a_double_colon_log_with_a_latin_1_movies_file_reads_its_accents(spark, tmp_path):
    ratings = f"1::12::4::{AT_10}\n2::1005::5::{AT_10}\n3::12::4::{AT_10}::5\n".encode()  # 5 fields: malformed
    movies = "12::Usual Suspects, The (1995)::Crime|Thriller\n1005::Misérables, Les (1995)::Drama|Musical\n"
    users = b"1::M::24::technician::85711\n2::F::53::other::94043\n"
    cfg = example_config(tmp_path, DAT, {"ratings.dat": ratings, "movies.dat": movies.encode("latin-1"),
                                         "users.dat": users},
                         source={"path": str(tmp_path / "ratings.dat")},
                         attributes={"items": {"path": str(tmp_path / "movies.dat")},
                                     "users": {"path": str(tmp_path / "users.dat")}})
    report = ingest_events(spark, cfg, D)
    assert (report.read, report.written, report.quarantined) == (3, 2, {"malformed": 1})
    assert "user_attributes: read=2 written=2 malformed=0" in ingest_attributes(spark, cfg, D)
    assert rows(spark, cfg, "item_attributes", "movie", "title") == [
        ("1005", "Misérables, Les (1995)"), ("12", "Usual Suspects, The (1995)")]
    assert rows(spark, cfg, "user_attributes", "user", "age", "gender") == [("1", 24, "M"), ("2", 53, "F")]


@pytest.mark.slow
def test_a_pinned_file_that_changed_is_refused_before_it_is_read(spark, tmp_path):
    ratings = f"userId,movieId,rating,timestamp\r\n1,12,4.5,{AT_10}\r\n".encode()
    cfg = example_config(tmp_path, CSV, {"ratings.csv": ratings},
                         source={"path": str(tmp_path / "ratings.csv"), "sha256": "0" * 64})
    with pytest.raises(DatasetIntegrityError, match=r"ratings\.csv has sha256 [0-9a-f]{64}, not the 0{64} its config"):
        ingest_events(spark, cfg, D)


@pytest.mark.slow
def test_a_lake_refuses_a_second_dataset(spark, tmp_path):
    ratings = f"userId,movieId,rating,timestamp\r\n1,12,4.5,{AT_10}\r\n".encode()
    csv = example_config(tmp_path, CSV, {"ratings.csv": ratings}, source={"path": str(tmp_path / "ratings.csv")})
    ingest_events(spark, csv, D)
    dat = example_config(tmp_path, DAT, {"ratings.dat": f"1::12::4::{AT_10}\n".encode()},
                         source={"path": str(tmp_path / "ratings.dat")})
    assert dat.lake_root == csv.lake_root  # the tests' overlay sets one lake_root; the default is one per dataset
    with pytest.raises(ForeignLakeError, match=r"holds dataset movielens_csv, not movielens_dat"):
        ingest_events(spark, dat, D)
    assert ingest_events(spark, csv, D).written == 1  # its own dataset goes on


@pytest.mark.slow
def test_with_multiline_a_quoted_title_may_span_lines(spark, tmp_path):
    movies = (b'movieId,title,genres\r\n12,"Usual Suspects,\r\nThe (1995)",Crime|Thriller\r\n'
              b'14,Heat (1995),Action\r\n18,"Unclosed (1995),Drama\r\n')
    cfg = example_config(tmp_path, CSV, {"movies.csv": movies},
                         attributes={"items": {"path": str(tmp_path / "movies.csv"), "multiline": True}})
    assert "item_attributes: read=3 written=2 malformed=1" in ingest_attributes(spark, cfg, D)
    assert rows(spark, cfg, "item_attributes", "movieId", "title") == [
        ("12", "Usual Suspects,\r\nThe (1995)"), ("14", "Heat (1995)")]
    assert rows(spark, cfg, "attributes_quarantine/item_attributes", "reason", "raw") == [
        ("malformed", '18,"Unclosed (1995),Drama')]


@pytest.mark.slow
def test_a_utf_16_ratings_file_and_a_windows_1252_movies_file_ingest_with_their_encodings_named(spark, tmp_path):
    ratings = f"userId,movieId,rating,timestamp\r\n1,12,4.5,{AT_10}\r\n2,14,5,{AT_10}\r\n3,14,4,{AT_10},x\r\n"
    movies = "movieId,title,genres\r\n12,\u201cCafé\u201d \u2013 Le Film (1999),Drama\r\n14,Heat (1995),Action\r\n"
    files = {"ratings.csv": ratings.encode("utf-16"), "movies.csv": movies.encode("cp1252")}
    cfg = example_config(tmp_path, CSV, files,
                         source={"path": str(tmp_path / "ratings.csv"), "encoding": "utf-16"},
                         attributes={"items": {"path": str(tmp_path / "movies.csv"), "encoding": "cp1252"}})
    report = ingest_events(spark, cfg, D)
    assert (report.read, report.written, report.quarantined) == (3, 2, {"malformed": 1})
    assert rows(spark, cfg, "events_quarantine", "reason", "raw") == [("malformed", f"3,14,4,{AT_10},x")]
    assert "item_attributes: read=2 written=2 malformed=0" in ingest_attributes(spark, cfg, D)
    assert rows(spark, cfg, "item_attributes", "movieId", "title") == [
        ("12", "\u201cCafé\u201d \u2013 Le Film (1999)"), ("14", "Heat (1995)")]


@pytest.mark.slow
def test_times_written_as_text_read_as_wall_clock_in_the_dataset_zone_or_with_their_own_offset(spark, tmp_path):
    # Shanghai is UTC+8 all year: 07:30 there on 04-22 is 23:30 UTC on 04-21, still the local day 04-22.
    wall_clock = ("userId,movieId,rating,timestamp\n1,12,4,1998-04-22 07:30:00\n2,12,5,1998-04-22 23:59:59\n"
                  "3,12,4,1998-04-23 00:00:00\n"  # the next local day: after the window
                  "4,12,4,22/04/1998 10:00\n5,12,4,1998-04-22 24:00:00\n")  # not the pattern; no 24th hour
    cfg = example_config(tmp_path, CSV, {"ratings.csv": wall_clock.encode()},
                         source={"path": str(tmp_path / "ratings.csv")}, time_format="yyyy-MM-dd HH:mm:ss",
                         timezone="Asia/Shanghai", window=ONE_DAY)
    report = ingest_events(spark, cfg, D)
    assert (report.read, report.written, report.quarantined) == (5, 2, {"bad_event_time": 2, "out_of_window": 1})
    assert rows(spark, cfg, "events", "user_id", epoch()) == [("1", AT_10 - 10 * 3600 - 1800), ("2", AT_10 + 21599)]
    assert rows(spark, cfg, "events_quarantine", "reason", "raw") == [
        ("bad_event_time", "4,12,4,22/04/1998 10:00"), ("bad_event_time", "5,12,4,1998-04-22 24:00:00"),
        ("out_of_window", "3,12,4,1998-04-23 00:00:00")]

    iso = "userId,movieId,rating,timestamp\n1,12,4,1998-04-22T10:00:00Z\n2,12,4,1998-04-22T12:00:00+02:00\n"
    cfg = example_config(tmp_path / "iso", CSV, {"ratings.csv": iso.encode()},
                         source={"path": str(tmp_path / "iso" / "ratings.csv")},
                         time_format="yyyy-MM-dd'T'HH:mm:ssXXX", timezone="Asia/Shanghai")
    assert ingest_events(spark, cfg, D).written == 2
    assert rows(spark, cfg, "events", "user_id", epoch()) == [("1", AT_10), ("2", AT_10)]


@pytest.mark.slow
def test_a_gzipped_json_lines_review_dump_reads_its_keys_text_times_and_a_category_array(spark, tmp_path):
    # Amazon's review dumps: one JSON object per line, keys in any order, numbers unquoted, keys a row may lack.
    reviews = ('{"overall": 5.0, "reviewerID": "A1", "asin": "B01", "reviewText": "Great, \\"really\\"", '
               '"reviewTime": "1998-04-22 10:00:00"}\n'
               '{"reviewerID": "A2", "reviewTime": "1998-04-22 10:01:00", "asin": "B01", "overall": 4}\n'
               '{"overall": 3.0, "reviewerID": "A3", "asin": "B02"}\n'  # no time
               '{"overall": 2.0, "reviewerID": "A4", "asin": "B02", "reviewTime": "1998-04-22 10:00:00"\n')  # cut short
    meta = ('{"asin": "B01", "title": "Heat, The", "categories": ["Movies & TV", "Drama"]}\n'
            '{"asin": "B02", "title": "Say \\"Hi\\"", "categories": "Comedy|Drama"}\n'
            '{"asin": "B03", "title": broken}\n')
    files = {"reviews.json.gz": gzip.compress(reviews.encode()), "meta.json.gz": gzip.compress(meta.encode())}
    cfg = example_config(tmp_path, JSON, files, source={"path": str(tmp_path / "reviews.json.gz")},
                         attributes={"items": {"path": str(tmp_path / "meta.json.gz")}}, window=ONE_DAY)
    report = ingest_events(spark, cfg, D)
    assert (report.read, report.written, report.quarantined) == (4, 2, {"bad_event_time": 1, "malformed": 1})
    assert rows(spark, cfg, "events", "user_id", "item_id", "value", epoch()) == [
        ("A1", "B01", 5.0, AT_10), ("A2", "B01", 4.0, AT_10 + 60)]
    assert [reason for reason, _ in rows(spark, cfg, "events_quarantine", "reason", "raw")] == [
        "bad_event_time", "malformed"]
    assert "item_attributes: read=3 written=2 malformed=1" in ingest_attributes(spark, cfg, D)
    assert rows(spark, cfg, "item_attributes", "asin", "title", "categories") == [
        ("B01", "Heat, The", ["Movies & TV", "Drama"]), ("B02", 'Say "Hi"', ["Comedy", "Drama"])]
