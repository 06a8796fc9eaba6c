"""Reading delimited text (CSV, TSV, any separator) or JSON Lines as raw lines, and parsing them into named string
columns.

Each line is kept as it arrived (`raw`), so that a rejected row can be quarantined exactly as delivered, and parsed as
one CSV record: a line holding a quote character by Spark's CSV parser (`from_csv`: quoted fields with the separator
inside, doubled or escaped quotes), any other by a split on the separator, which finds the same fields. A line that is
not exactly one record of the declared columns, or not text in the file's encoding, is `malformed`. A record is one
line, unless the file is `multiline` (read_whole_files): then a quoted field may span lines. A JSON Lines file's
line is one JSON object; its values are taken by key, as their text (a number or an array as written).
"""
from __future__ import annotations

import re

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BinaryType

from core.config_dataset import WHOLE_FILE_ENCODINGS, DatasetConfig, DelimitedFile, decoded_text

MALFORMED = "_malformed"
_CORRUPT = "_corrupt_record"


def read_lines(spark: SparkSession, path: str, header: bool, encoding: str = "utf-8") -> DataFrame:
    """Each line of the file(s) at path as a `raw` string, decoded from `encoding`, without header lines and trailing
    CRs.

    The raw line is kept so that a rejected row can be quarantined exactly as it arrived.
    """
    # Filters test the line as read and the CR is trimmed once, after them: a regex replace per line, or filters on
    # the trimmed line (which the optimizer rewrites to trim again per filter), made reading 10M lines 3x slower.
    lines = _decoded(spark.read.text(path).where(~F.col("value").isin("", "\r")), encoding)
    if header:
        # Spark packs files by size, but every file of a source starts with the same header line,
        # and partition 0 starts at the beginning of a file, so the first line is a header.
        first = lines.first()
        if first is not None:
            name_line = first["value"].rstrip("\r")
            lines = lines.where(~F.col("value").isin(name_line, name_line + "\r"))
    return lines.select(_without_trailing_cr().alias("raw"))


def read_source_lines(spark: SparkSession, path: str, text: DelimitedFile) -> DataFrame:
    """The records of a configured file (`path` is its resolved location: a daily source's day folder) as `raw`:
    its lines (read_lines), or with `multiline` or a UTF-16 encoding its records, each file read whole
    (read_whole_files)."""
    if text.multiline or text.encoding in WHOLE_FILE_ENCODINGS:
        return read_whole_files(spark, path, text.header, text.encoding, text.quote if text.multiline else None)
    return read_lines(spark, path, text.header, text.encoding)


def read_whole_files(spark: SparkSession, path: str, header: bool, encoding: str, quote: str | None) -> DataFrame:
    """Each record of the file(s) at path as `raw`, without header records, blank lines and trailing CRs: a line, or
    with a `quote` (multiline) lines joined where a quoted field holds line breaks.

    A file is read whole (one task per file, so it must fit a task's memory). A UTF-16 file is transcoded to UTF-8
    first (utf8_of), since its line breaks are two bytes; then `file_records` cuts the bytes into records, and each
    record's raw bytes go on to decoding and parse_columns like a line of read_lines.
    """
    whole_file = encoding in WHOLE_FILE_ENCODINGS
    quote_byte = quote.encode("utf-8" if whole_file else encoding) if quote is not None else None

    def records_of(content):  # no type hints: Spark 4 reads a UDF's hints as a pandas/Arrow eval type, and warns
        return file_records(utf8_of(content, encoding) if whole_file and content is not None else content,
                            quote_byte, header)

    cut = F.udf(records_of, ArrayType(BinaryType()))
    records = (spark.read.text(path, wholetext=True)
               .select(F.explode(cut(F.col("value").cast("binary"))).alias("record"))
               .select(F.col("record").cast("string").alias("value"))
               .where(~F.col("value").isin("", "\r")))
    return _decoded(records, encoding).select(_without_trailing_cr().alias("raw"))


def _without_trailing_cr() -> Column:
    # SQL's TRIM syntax: Spark 4 warns that the two-argument rtrim(value, '\r') is deprecated, on every job.
    return F.expr("TRIM(TRAILING '\\r' FROM value)")


def utf8_of(content: bytes, encoding: str) -> bytes:
    """A UTF-16 file's text as UTF-8 (decoded_text: the byte order from the mark, big-endian without one). What is not
    UTF-16 becomes U+FFFD, which marks its line malformed (parse_columns)."""
    return decoded_text(content, encoding).encode("utf-8")


# windows-1252 is latin-1 but for bytes 0x80-0x9f, where latin-1 has control characters: 27 of them are printable
# characters (the euro sign, curly quotes, dashes), 5 are undefined. Spark's `decode` does not know windows-1252 (short
# of a session-wide legacy flag), so a line is decoded as latin-1 and those 27 characters translated.
_WINDOWS_1252_DEFINED = "".join(chr(b) for b in range(0x80, 0xA0) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D))
_WINDOWS_1252_UNDEFINED = "[\\x81\\x8d\\x8f\\x90\\x9d]"  # as decoded as latin-1; a line holding one is malformed


def _decoded(text: DataFrame, encoding: str) -> DataFrame:
    """`value` decoded from `encoding`. The text source keeps each line's (or file's) bytes as they are, split on the
    '\n' byte: decoding them gives the true text. UTF-8 and ASCII need no decoding (nor UTF-16, which utf8_of has
    transcoded); parse_columns flags a line whose bytes are not valid in them (or in windows-1252)."""
    if encoding == "iso-8859-1":
        return text.select(F.decode(F.col("value").cast("binary"), encoding).alias("value"))
    if encoding == "windows-1252":
        latin_1 = F.decode(F.col("value").cast("binary"), "iso-8859-1")
        printable = _WINDOWS_1252_DEFINED.encode("latin-1").decode("windows-1252")
        return text.select(F.translate(latin_1, _WINDOWS_1252_DEFINED, printable).alias("value"))
    return text


def file_records(content: bytes | None, quote: bytes | None, header: bool) -> list[bytes]:
    """The records of one file's bytes: its lines, where (given a quote) a line that leaves a quote open is joined
    (with its line break) to the next ones until the quotes balance, as a quoted field that spans lines does. An
    unterminated quote makes the rest of the file one record, which parse_columns finds malformed. The first record
    is the header's."""
    if content is None:
        return []
    if content.endswith(b"\n"):
        content = content[:-1]  # the last line's break ends it, it does not start an empty line
    records, pending, quotes = [], [], 0
    for line in content.split(b"\n"):
        pending.append(line)
        quotes += line.count(quote) if quote is not None else 0
        if quotes % 2 == 0:
            records.append(b"\n".join(pending))
            pending, quotes = [], 0
    if pending:
        records.append(b"\n".join(pending))
    return records[1:] if header else records


def parse_columns(lines: DataFrame, text: DelimitedFile) -> DataFrame:
    """`raw`, MALFORMED (the line is not exactly one record of the declared columns) and one trimmed string column per
    declared name (null when empty; what could be parsed of a malformed line)."""
    parsed, malformed, values = (_json_fields if text.format == "json" else _delimited_fields)(lines, text)
    if text.encoding == "utf-8":
        malformed = malformed | ~F.is_valid_utf8("raw")  # e.g. a latin-1 file declared as UTF-8
    elif text.encoding in WHOLE_FILE_ENCODINGS:
        malformed = malformed | F.col("raw").contains("\ufffd")  # what utf8_of could not decode
    elif text.encoding == "us-ascii":
        malformed = malformed | F.col("raw").rlike("[^\\x00-\\x7F]")
    elif text.encoding == "windows-1252":
        malformed = malformed | F.col("raw").rlike(_WINDOWS_1252_UNDEFINED)
    return parsed.select("raw", malformed.alias(MALFORMED),
                         *[_blank_to_null(F.trim(value)).alias(name) for value, name in zip(values, text.columns)])


def _json_fields(lines: DataFrame, text: DelimitedFile) -> tuple[DataFrame, Column, list[Column]]:
    """A line is malformed unless it is one JSON object. Spark's parser flags what is not JSON, or not an object, but
    reads an object followed by other text as the object alone: so the line is also parsed as the elements of
    `[line]`, which must be exactly one. A key the object lacks is a null value."""
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
    elements = F.size(F.from_json(F.concat(F.lit("["), F.col("raw"), F.lit("]")), "array<string>"))
    parsed = lines.select("raw", F.from_json(F.col("raw"), _record_schema(text), options).alias("_record"),
                          F.coalesce(elements != 1, F.lit(True)).alias("_not_one"))
    malformed = F.col("_record").isNull() | F.col("_record")[_CORRUPT].isNotNull() | F.col("_not_one")
    return parsed, malformed, [F.col("_record")[name] for name in text.columns]


def _delimited_fields(lines: DataFrame, text: DelimitedFile) -> tuple[DataFrame, Column, list[Column]]:
    fields = F.split(F.col("raw"), re.escape(text.delimiter), -1)
    parsed = lines.select("raw", fields.alias("_fields"))
    # try_element_at: a short row yields nulls instead of failing under ANSI mode.
    if text.quote is None:
        malformed = F.size("_fields") != len(text.columns)
        values = [F.try_element_at("_fields", F.lit(i + 1)) for i in range(len(text.columns))]
    else:
        # Only a line holding a quote (or escape) character needs the CSV parser: on any other line it finds exactly
        # the fields a split on the delimiter does, at a fraction of the cost (parsing every line made the ingest of
        # a 10M-line day 1.3x slower).
        special = F.col("raw").contains(text.quote)
        if text.escape != text.quote:
            special = special | F.col("raw").contains(text.escape)
        options = {"sep": text.delimiter, "quote": text.quote, "escape": text.escape, "mode": "PERMISSIVE",
                   "columnNameOfCorruptRecord": _CORRUPT}
        record = F.from_csv(F.col("raw"), _record_schema(text), options)
        parsed = parsed.select("raw", "_fields", special.alias("_quoted"), F.when(special, record).alias("_record"))
        unbalanced = F.lit(False)
        if text.escape == text.quote:
            # With doubled quotes as the escape, a whole record holds an even number of quote characters. The parser
            # accepts an unterminated quote silently (the field runs to the line's end): a record cut at a line
            # break inside quotes, or a stray quote, would pass as an event with a wrong field.
            quotes = F.length("raw") - F.length(F.replace(F.col("raw"), F.lit(text.quote), F.lit("")))
            unbalanced = quotes % 2 == 1
        malformed = F.when(F.col("_quoted"), F.col("_record")[_CORRUPT].isNotNull() | unbalanced).otherwise(
            F.size("_fields") != len(text.columns))
        values = [F.when(F.col("_quoted"), F.col("_record")[name]).otherwise(F.try_element_at("_fields", F.lit(i + 1)))
                  for i, name in enumerate(text.columns)]
    return parsed, malformed, values


def _record_schema(text: DelimitedFile) -> str:
    """The parsers' (from_csv, from_json) schema: every declared column as a string, then the corrupt-record one."""
    return ", ".join(f"`{name}` string" for name in [*text.columns, _CORRUPT])


# Epoch seconds of 0001-01-02 and 9999-12-30 23:59:59 UTC: Spark's timestamp range less a day at each end, so that
# the local day is a valid date in any time zone. Outside it an epoch is a bad time; unchecked, a large one overflowed
# a long in timestamp_seconds/millis, an error that failed the whole job instead of one row.
FIRST_EPOCH_SECOND, LAST_EPOCH_SECOND = -62_135_510_400, 253_402_214_399


def epoch_timestamp(text: Column, time_unit: str) -> Column:
    """A timestamp from an epoch string in seconds ("s") or milliseconds ("ms"), an integer or a decimal fraction
    ("881250949.0", as a float column is often written; kept to the microsecond); null when it is not one."""
    per_second = 1 if time_unit == "s" else 1000
    # Plain numbers only: "1.5e9" or "2017-11-25" are bad times, not silently misread ones.
    as_long = F.when(text.rlike(r"^-?\d{1,18}$"), text.try_cast("long"))
    in_range = as_long.between(FIRST_EPOCH_SECOND * per_second, LAST_EPOCH_SECOND * per_second + per_second - 1)
    as_long = F.when(in_range, as_long)
    whole = F.timestamp_seconds(as_long) if per_second == 1 else F.timestamp_millis(as_long)
    # The decimal path runs only where the integer one found nothing, so a log of integers costs what it did.
    seconds = F.when(text.rlike(r"^-?\d{1,18}\.\d{1,9}$"), text.try_cast("decimal(27,9)")) / per_second
    in_range = (seconds >= FIRST_EPOCH_SECOND) & (seconds < LAST_EPOCH_SECOND + 1)
    fraction = F.timestamp_micros(F.when(in_range, F.floor(seconds * 1_000_000).cast("long")))
    return F.coalesce(whole, fraction)


def raw_timestamp(text: Column, dataset: DatasetConfig) -> Column:
    """A raw time as a timestamp: an epoch integer in dataset.time_unit, or text in dataset.time_format (wall-clock
    time in dataset.timezone unless the pattern reads an offset or zone); null when it is not one."""
    if dataset.time_format is None:
        return epoch_timestamp(text, dataset.time_unit)
    parsed = F.try_to_timestamp(text, F.lit(dataset.time_format))
    # The session time zone is UTC (conf/base.yaml), so a zone-less text parses as if it were UTC wall-clock time;
    # to_utc_timestamp moves it to the instant that wall-clock time is in the dataset's zone.
    return parsed if dataset.time_has_zone else F.to_utc_timestamp(parsed, dataset.timezone)


def local_day(timestamp: Column, timezone: str) -> Column:
    """The calendar day of a (UTC) timestamp in the dataset's time zone: the day an event or attribute row is of."""
    return F.to_date(F.from_utc_timestamp(timestamp, timezone))


def _blank_to_null(column: Column) -> Column:
    return F.when(column == "", None).otherwise(column)
