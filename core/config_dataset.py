"""The `dataset` section of the config schema: where a raw log is, how its delimited files read, which columns mean
what, and its attribute files."""
from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator, model_validator

from core.config_base import DayRange, Frozen

# Spark's datetime pattern letters that parse (docs: sql-ref-datetime-pattern; week-based ones were dropped in 3.0),
# and the ones that read an offset or zone. Any other letter is an error unless quoted ('T').
PATTERN_LETTERS = "GyDMLdQqEFahKkHmsSVzOXxZ"
ZONE_LETTERS = "VzOXxZ"


def _unquoted(pattern: str) -> str:
    """The pattern without its quoted literals ('T', 'at', '' for a quote)."""
    return re.sub(r"'[^']*'", "", pattern)


class Window(DayRange):
    """Inclusive range of local days that the dataset covers; events outside it are quarantined."""


# Encodings a raw file may be in. Each spelling a user may write -> the name jobs.delimited decodes by. In UTF-8 and
# the single-byte ones '\n' and '\r' are bytes of their own, so lines are split on bytes before decoding; a UTF-16
# file (`utf-16` finds the byte order in the file's byte-order mark, big-endian without one) is read whole and
# transcoded first (WHOLE_FILE_ENCODINGS).
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "us-ascii": "us-ascii", "ascii": "us-ascii",
             "iso-8859-1": "iso-8859-1", "latin-1": "iso-8859-1", "latin1": "iso-8859-1",
             "windows-1252": "windows-1252", "cp1252": "windows-1252",
             "utf-16": "utf-16", "utf16": "utf-16", "utf-16le": "utf-16le", "utf-16be": "utf-16be"}
WHOLE_FILE_ENCODINGS = ("utf-16", "utf-16le", "utf-16be")


def decoded_text(content: bytes, encoding: str) -> str:
    """Bytes in one of ENCODINGS' names as text, a byte-order mark dropped. `utf-16` takes the byte order from the
    mark and is big-endian without one (the Unicode standard's rule; Python's codec would assume the machine's order).
    What cannot be decoded (a lone surrogate, an odd last byte, a byte windows-1252 leaves undefined) becomes U+FFFD."""
    if encoding == "utf-16":
        encoding = "utf-16le" if content.startswith(b"\xff\xfe") else "utf-16be"
    return content.decode(encoding, errors="replace").removeprefix("\ufeff")


class DelimitedFile(Frozen):
    """A delimited text file (or a folder of them) and the names of its columns in order, read one record per line
    by Spark's CSV parser (jobs.delimited)."""

    path: str
    columns: list[str]  # in order; for `format: json` the keys taken from each line's object, in any order
    # "delimited": a separator between fields (CSV, TSV, "::"); "json": one JSON object per line (JSON Lines, as
    # Amazon's and Yelp's review dumps ship), its top-level keys named by `columns`.
    format: Literal["delimited", "json"] = "delimited"
    delimiter: str = ","  # one or more characters: ",", "\t", "::"
    header: bool = False  # the first line of each file names the columns (it is skipped, not checked)
    quote: str | None = '"'  # a field in quotes may hold the delimiter; None: quotes are ordinary characters
    escape: str = '"'  # the character before a quote inside a quoted field: '"' is RFC 4180's doubled quote
    encoding: str = "utf-8"  # utf-8, latin-1 (iso-8859-1), windows-1252 (cp1252), us-ascii or utf-16(le|be)
    sha256: str | None = None  # when set, the file's digest is checked before it is read (a single file only)
    # A quoted field may hold line breaks: each file is then read whole by one task (slower; it must fit in memory).
    # Without it a record is one line, and the lines of a record that spans lines are quarantined as malformed.
    multiline: bool = False

    @property
    def is_one_local_file(self) -> bool:
        """Whether `path` names one file on this machine: not remote (hdfs://, s3a://), not one per day (`{ds}`)."""
        return "://" not in self.path and "{ds}" not in self.path

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            return ENCODINGS[encoding.lower()]
        except KeyError:
            raise ValueError(f"unsupported encoding {encoding!r}; use one of {', '.join(ENCODINGS)}") from None

    @model_validator(mode="after")
    def _parsable(self) -> "DelimitedFile":
        if self.format == "json":
            given = sorted(self.model_fields_set & {"delimiter", "header", "quote", "escape", "multiline"})
            if given:
                raise ValueError(f"format json reads one JSON object per line: {', '.join(given)} do not apply")
        if not self.delimiter:
            raise ValueError("delimiter is empty")
        for key in ("quote", "escape"):
            value = getattr(self, key)
            if value is not None and len(value) != 1:
                raise ValueError(f"{key} must be one character, got {value!r}")
        if self.multiline and (self.quote is None or self.escape != self.quote):
            raise ValueError("multiline needs a quote, escaped by doubling it (escape = quote)")
        if self.quote is not None and self.quote in self.delimiter:
            raise ValueError(f"quote {self.quote!r} is part of the delimiter {self.delimiter!r}")
        if not self.columns or len(set(self.columns)) != len(self.columns):
            raise ValueError(f"columns must be distinct names, got {self.columns}")
        if self.sha256 is not None:
            if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
                raise ValueError(f"sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
            if not self.is_one_local_file:
                raise ValueError(f"sha256 pins one local file; {self.path} is remote or one per day")
        return self


class RawSource(DelimitedFile):
    # dump: one file holding every day (a day's delivery is the rows whose event day is that day);
    # daily: `path` contains `{ds}` and names the folder/file delivered for that day.
    layout: Literal["dump", "daily"] = "dump"
    # How the file gets onto this machine when it is missing: "none" (it must exist) or a fetcher name.
    fetch: Literal["none", "movielens_recbole"] = "none"


class EventFields(Frozen):
    """Which raw column feeds each canonical event field."""

    user_id: str
    item_id: str
    event_time: str
    event_type: str | None = None  # None: every row has `fixed_event_type`
    value: str | None = None


class AttributeTable(DelimitedFile):
    id_column: str
    keep: list[str]  # attribute columns to keep, after `rename`
    rename: dict[str, str] = {}
    int_columns: list[str] = []
    list_columns: dict[str, str] = {}  # column -> separator; becomes array<string>
    # The column of the time a row became known (epoch, in dataset.time_unit), when the file is a log rather than
    # a catalogue (Taobao's items come from the event dump): D's snapshot then holds only rows known before D.
    # None: every row is catalogue data, known on any day.
    known_at: str | None = None


class Attributes(Frozen):
    users: AttributeTable | None = None
    items: AttributeTable | None = None


class DatasetConfig(Frozen):
    name: str  # names the dataset's lake, artifacts and exports (`{dataset}` in their roots)
    window: Window
    source: RawSource
    fields: EventFields
    event_types: dict[str, str]  # raw event type -> canonical event type
    timezone: str = "UTC"  # the zone of the local days events belong to
    time_unit: Literal["s", "ms"] = "s"
    # Times written as text instead of epoch integers: a Spark datetime pattern ("yyyy-MM-dd HH:mm:ss",
    # "yyyy-MM-dd'T'HH:mm:ss.SSSX"). A pattern without an offset or zone reads wall-clock time in `timezone`.
    time_format: str | None = None
    fixed_event_type: str | None = None
    value_range: list[float] | None = None  # [min, max] allowed event value, both included
    attributes: Attributes = Attributes()
    item_category: str | None = None  # the item attribute (string or list of strings) that rollups group by

    @property
    def canonical_event_types(self) -> tuple[str, ...]:
        """Every canonical event type, in the order the config declares them, each once."""
        return tuple(dict.fromkeys(self.event_types.values()))

    @field_validator("name")
    @classmethod
    def _path_safe(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise ValueError(f"must be letters, digits, '_', '.' or '-' (it names folders), got {name!r}")
        return name

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    @field_validator("time_format")
    @classmethod
    def _spark_pattern(cls, pattern: str | None) -> str | None:
        if pattern is None:
            return None
        letters = {char for char in _unquoted(pattern) if char.isalpha()}
        if not letters <= set(PATTERN_LETTERS) or "y" not in letters:
            unknown = "".join(sorted(letters - set(PATTERN_LETTERS)))
            raise ValueError(f"{pattern!r} is not a Spark datetime pattern with a year (y)"
                             + (f"; it has {unknown!r}, which Spark does not parse" if unknown else "")
                             + "; e.g. 'yyyy-MM-dd HH:mm:ss', quote literal text: \"yyyy-MM-dd'T'HH:mm:ssX\"")
        return pattern

    @property
    def time_has_zone(self) -> bool:
        """The time_format reads an offset or zone from each time (else times are wall-clock in `timezone`)."""
        return self.time_format is not None and bool(set(_unquoted(self.time_format)) & set(ZONE_LETTERS))

    @field_validator("value_range")
    @classmethod
    def _min_max(cls, bounds: list[float] | None) -> list[float] | None:
        if bounds is not None and (len(bounds) != 2 or bounds[0] > bounds[1]):
            raise ValueError(f"must be [min, max], got {bounds}")
        return bounds

    @model_validator(mode="after")
    def _one_event_type_rule(self) -> "DatasetConfig":
        if (self.fields.event_type is None) == (self.fixed_event_type is None):
            raise ValueError("set exactly one of fields.event_type and fixed_event_type")
        if self.time_format is not None and "time_unit" in self.model_fields_set:
            raise ValueError("set time_unit (epoch integers) or time_format (text times), not both")
        return self

    @model_validator(mode="after")
    def _columns_exist(self) -> "DatasetConfig":
        """Every column a key names is one its file has: found here, not when a job first reads the file."""
        unknown = [f"fields.{key} {column!r}" for key, column in self.fields.model_dump().items()
                   if column is not None and column not in self.source.columns]
        for kind in ("users", "items"):
            table: AttributeTable | None = getattr(self.attributes, kind)
            if table is None:
                continue
            renamed = [table.rename.get(column, column) for column in table.columns]
            where = f"attributes.{kind}"
            unknown += [f"{where}.rename {column!r}" for column in table.rename if column not in table.columns]
            named = {"id_column": [table.id_column], "keep": table.keep,
                     "known_at": [table.known_at] if table.known_at else []}
            unknown += [f"{where}.{key} {column!r}" for key, columns in named.items()
                        for column in columns if column not in renamed]
            unknown += [f"{where}.{key} {column!r} (not in keep)" for key, columns in
                        (("int_columns", table.int_columns), ("list_columns", list(table.list_columns)))
                        for column in columns if column not in table.keep]
        if unknown:
            raise ValueError(f"names columns its file does not declare: {'; '.join(unknown)}")
        if self.item_category is not None and (self.attributes.items is None
                                               or self.item_category not in self.attributes.items.keep):
            raise ValueError(f"item_category {self.item_category!r} is not a kept item attribute "
                             f"(attributes.items.keep)")
        if self.fixed_event_type is not None and self.fixed_event_type not in self.event_types:
            # Unmapped, every row would be quarantined as unknown_event_type.
            raise ValueError(f"fixed_event_type {self.fixed_event_type!r} is not a raw type of event_types")
        return self
