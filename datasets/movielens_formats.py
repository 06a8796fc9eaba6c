"""MovieLens 100k's ratings and movies written in the file formats of two other MovieLens releases and of Amazon's
review dumps, for the README's "Add your own dataset" walk-through: a real log in formats the built-in MovieLens
config does not read.

    python -m datasets.movielens_formats [--out DIR]     (default <cache_dir>/datasets/movielens_formats)

- `csv/`: the format of MovieLens' current releases (ml-latest, ml-25m): `ratings.csv` (userId,movieId,rating,
  timestamp) and `movies.csv` (movieId,title,genres; a title with a comma is quoted, as in "American President, The
  (1995)", genres joined by '|'), each with a header line, UTF-8, CRLF line ends (RFC 4180, Python's csv writer).
- `dat/`: the format of MovieLens 1M: `ratings.dat` (UserID::MovieID::Rating::Timestamp) and `movies.dat`
  (MovieID::Title::Genres) in latin-1, `users.dat` (UserID::Gender::Age::Occupation::Zip-code), no header, LF.
- `json/`: the shape of Amazon's review dumps, gzipped JSON Lines: `reviews.json.gz`, one object per rating
  ({"reviewerID", "asin", "overall" (a number), "reviewTime" (UTC text, "1997-12-04 15:55:49")}), and `meta.json.gz`
  ({"asin", "title", "categories" (an array)}).

The files hold exactly the verified MovieLens 100k data (datasets.movielens), only written differently, so the
pipeline on them must find the same 100,000 ratings. Like MovieLens itself, they are never committed.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import json
import os
from pathlib import Path

from datasets.movielens import fetch_movielens_100k

CACHE_DIR = Path(os.environ.get("DAILYREC_CACHE_DIR") or "~/.cache/dailyrec").expanduser()  # as core.config's


def read_movielens_100k(source_dir: Path) -> dict[str, list[list[str]]]:
    """The rows (header removed) of the recbole files: tab-separated, genres space-separated."""
    return {kind: [line.split("\t") for line in (source_dir / f"ml-100k.{kind}").read_text("utf-8").splitlines()[1:]]
            for kind in ("inter", "item", "user")}


def movie_title(title: str, year: str) -> str:
    """The title as the later releases write it: with the release year in parentheses."""
    return f"{title} ({year})" if year else title


def write_formats(source_dir: Path, out: Path) -> dict[str, Path]:
    """Write csv/, dat/ and json/ under out from the MovieLens 100k files in source_dir; the paths written by name."""
    rows = read_movielens_100k(source_dir)
    movies = [(item, movie_title(title, year), "|".join(genres.split())) for item, title, year, genres in rows["item"]]
    paths = {"csv/ratings.csv": out / "csv" / "ratings.csv", "csv/movies.csv": out / "csv" / "movies.csv",
             "dat/ratings.dat": out / "dat" / "ratings.dat", "dat/movies.dat": out / "dat" / "movies.dat",
             "dat/users.dat": out / "dat" / "users.dat", "json/reviews.json.gz": out / "json" / "reviews.json.gz",
             "json/meta.json.gz": out / "json" / "meta.json.gz"}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    with paths["csv/ratings.csv"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)  # CRLF line ends and minimal quoting: RFC 4180
        writer.writerow(["userId", "movieId", "rating", "timestamp"])
        writer.writerows(rows["inter"])
    with paths["csv/movies.csv"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["movieId", "title", "genres"])
        writer.writerows(movies)
    paths["dat/ratings.dat"].write_text("".join("::".join(row) + "\n" for row in rows["inter"]), "utf-8")
    paths["dat/movies.dat"].write_text("".join("::".join(movie) + "\n" for movie in movies), "latin-1")
    paths["dat/users.dat"].write_text(
        "".join(f"{user}::{gender}::{age}::{occupation}::{zip_code}\n"
                for user, age, gender, occupation, zip_code in rows["user"]), "utf-8")
    # mtime=0: the same rows give the same bytes
    paths["json/reviews.json.gz"].write_bytes(gzip.compress("".join(
        json.dumps({"reviewerID": user, "asin": item, "overall": float(rating), "reviewTime": utc_text(time)}) + "\n"
        for user, item, rating, time in rows["inter"]).encode(), mtime=0))
    paths["json/meta.json.gz"].write_bytes(gzip.compress("".join(
        json.dumps({"asin": item, "title": title, "categories": genres.split("|") if genres else []}) + "\n"
        for item, title, genres in movies).encode(), mtime=0))
    return paths


def utc_text(epoch_seconds: str) -> str:
    return dt.datetime.fromtimestamp(int(float(epoch_seconds)), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=CACHE_DIR / "datasets" / "movielens_formats")
    parser.add_argument("--movielens", type=Path, default=CACHE_DIR / "datasets" / "movielens_100k",
                        help="where MovieLens 100k is (fetched and verified there if missing)")
    args = parser.parse_args(argv)
    source = fetch_movielens_100k(args.movielens.expanduser())
    for path in write_formats(source, args.out.expanduser()).values():
        print(path)


if __name__ == "__main__":
    main()
