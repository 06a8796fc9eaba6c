import gzip

from ops.check_conf import describe, main
from tests.conftest import MOVIELENS, config_for


def test_it_shows_the_files_days_lake_and_features_of_a_config(tmp_path):
    lines = describe(config_for(tmp_path, MOVIELENS))
    assert lines[1] == ("dataset movielens_100k: window 1997-09-20..1998-04-22 (UTC days), run 1998-04-16..1998-04-22 "
                        "(make run: 1998-04-22), DAG scheduled from 1998-04-16")
    assert "ml-100k.inter: 4 columns split on '\\t', quote '\"', utf-8, header line" in lines[2]
    assert lines[3].endswith("value <- rating; every row is a 'rating'; time in epoch s")
    assert f"lake {tmp_path}/lake (new)" in lines
    assert "  categorical (6): user_id*, item_id*, user_gender, user_occupation, user_zip_code*, item_movie_title*" \
        in lines


def test_it_shows_a_text_time_pattern_and_the_zone_it_is_read_in(tmp_path):
    wall_clock = config_for(tmp_path, MOVIELENS, dataset={"time_unit": None, "time_format": "yyyy-MM-dd HH:mm",
                                                          "timezone": "Europe/Paris"})
    assert describe(wall_clock)[3].endswith("; time as text 'yyyy-MM-dd HH:mm' (Europe/Paris)")
    with_offset = config_for(tmp_path, MOVIELENS, dataset={"time_unit": None, "time_format": "yyyy-MM-dd HH:mmXXX"})
    assert describe(with_offset)[3].endswith("; time as text 'yyyy-MM-dd HH:mmXXX'")


def test_it_shows_the_keys_a_json_lines_file_is_read_by(tmp_path):
    json_lines = {"path": "/data/ratings.json", "format": "json", "delimiter": None, "header": None}
    lines = describe(config_for(tmp_path, MOVIELENS, dataset={"source": json_lines}))
    assert lines[2] == ("  events: /data/ratings.json (missing): JSON Lines, keys user_id, item_id, rating, timestamp, "
                        "utf-8, dump")


def test_run_day_is_what_make_run_runs(capsys):
    assert main(["--conf", f"conf/local.yaml,{MOVIELENS}", "--run-day"]) == 0
    assert capsys.readouterr().out == "1998-04-22\n"


def test_a_bad_config_is_one_error_per_problem(tmp_path, capsys):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("ranker: {exclude_features: [user_idd]}\ndataset: {source: {encoding: utf-32}}\n")
    assert main(["--conf", f"conf/local.yaml,{MOVIELENS},{overlay}"]) == 1
    assert capsys.readouterr().err.startswith("error: invalid config:\n  dataset.source.encoding: Value error, "
                                              "unsupported encoding 'utf-32'")


def test_it_warns_when_a_header_has_another_number_of_columns(tmp_path):
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("userId,movieId,rating,timestamp,tag\n1,2,3,4,x\n")
    cfg = config_for(tmp_path, "conf/examples/movielens_csv.yaml", dataset={"source": {"path": str(ratings)}})
    lines = describe(cfg)
    assert lines[2].endswith("header line; WARNING: its header has 5 columns (userId, movieId, rating, timestamp, "
                             "tag): every row would be malformed, dump")


def test_a_gzipped_files_header_is_read_from_its_text(tmp_path):
    ratings = tmp_path / "ratings.csv.gz"
    ratings.write_bytes(gzip.compress(b"userId,movieId,rating,timestamp\n1,2,3,4\n"))
    cfg = config_for(tmp_path, "conf/examples/movielens_csv.yaml", dataset={"source": {"path": str(ratings)}})
    assert describe(cfg)[2].endswith("header line (its header names the same columns), dump")


def test_a_header_is_read_as_the_reader_decodes_the_file_utf_16_without_a_mark_big_endian(tmp_path):
    ratings = tmp_path / "ratings.csv"
    for encoding, data in (("utf-16", "userId,movieId,rating,timestamp\n1,2,3,4\n".encode("utf-16-be")),
                           ("utf-16", "userId,movieId,rating,timestamp\n".encode("utf-16")),  # a mark, little-endian
                           ("windows-1252", "userId,movieId,rating,timestamp\r\n".encode("cp1252"))):
        ratings.write_bytes(data)
        cfg = config_for(tmp_path, "conf/examples/movielens_csv.yaml",
                         dataset={"source": {"path": str(ratings), "encoding": encoding}})
        assert describe(cfg)[2].endswith("header line (its header names the same columns), dump"), encoding
    ratings.write_bytes("userId;movieId\n".encode("utf-16-le"))  # no mark, so read big-endian: one garbled name
    cfg = config_for(tmp_path, "conf/examples/movielens_csv.yaml",
                     dataset={"source": {"path": str(ratings), "encoding": "utf-16"}})
    assert "WARNING: its header has 1 columns" in describe(cfg)[2]


def test_roots_are_the_configs_own_folders_which_clean_lake_removes_and_never_a_remote_one(tmp_path, capsys):
    overlay = tmp_path / "roots.yaml"
    overlay.write_text(f"lake_root: {tmp_path}/lakes/mine\nartifact_root: {tmp_path}/art\n"
                       f"gate: {{export_root: {tmp_path}/exp}}\n")
    assert main(["--conf", f"conf/local.yaml,{MOVIELENS},{overlay}", "--roots"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{tmp_path}/lakes/mine", f"{tmp_path}/art", f"{tmp_path}/exp"]
    overlay.write_text("lake_root: s3://bucket/lake\n")
    assert main(["--conf", f"conf/local.yaml,{MOVIELENS},{overlay}", "--roots"]) == 1
    assert capsys.readouterr().err == ("error: s3://bucket/lake: not a local folder; remove remote roots with their "
                                       "own tools\n")
    overlay.write_text("artifact_root: .\n")
    assert main(["--conf", f"conf/local.yaml,{MOVIELENS},{overlay}", "--roots"]) == 1
    assert capsys.readouterr().err.endswith(": holds the repository or the home folder, not a dataset's own folder\n")
