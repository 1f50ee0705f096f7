"""Event logs in: read a file, map its columns, validate rows, report (DESIGN.md section 2).

One code path serves the browser upload (bytes) and the CLI (a path):

    read_table      bytes/path -> raw frame (all CSV columns as text) + how it was read
    detect_columns  raw frame -> which column is user / item / timestamp / event / value, and why
    load_events     all of the above + conversion + row checks -> EventLog (table + report)
    load_items      optional item table: item_id, title, category (+ genres)

Recoverable problems (bad rows) are counted in the ValidationReport with examples; unrecoverable
input raises LTSIError with a message a non-programmer can act on. Heavy lifting is vectorised
(pyarrow for parsing and string work, numpy for masks and sorting): 5M rows in seconds.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import json
import lzma
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ltsi.errors import LTSIError

# ---------------------------------------------------------------------------------------------
# Reasons a row is dropped, in words a non-programmer understands. They are the keys of
# ValidationReport.dropped / .examples, so other modules and tests may refer to them.
REASON_MALFORMED = "line has the wrong number of fields"
REASON_BAD_JSON = "line is not valid JSON"
REASON_NO_USER = "user is missing"
REASON_NO_ITEM = "item is missing"
REASON_NO_TIME = "timestamp is missing"
REASON_BAD_TIME = "timestamp could not be read as a date or time"
REASON_TIME_RANGE = "timestamp is outside the plausible range of dates"
REASON_DUPLICATE = "exact duplicate of an earlier row"


def reason_few_events(min_events: int) -> str:
    return f"user has fewer than {min_events} events"


ROLES = ("user", "item", "timestamp", "event", "value")
DEFAULT_EVENT = "interaction"
MAX_EXAMPLES = 5

# Plausible window for epoch numbers; it decides the unit (s/ms/us/ns never overlap inside it),
# so epoch milliseconds can never be read as seconds (the "year 55840" trap).
EPOCH_LOW_S = 631_152_000  # 1990-01-01
EPOCH_HIGH_S = 4_102_444_800  # 2100-01-01
UNIT_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
# Dates written as text (or stored as dates) are accepted in a wider window.
DATE_LOW_NS = pd.Timestamp("1900-01-01").value
DATE_HIGH_NS = pd.Timestamp("2100-01-01").value
NAT_NS = np.iinfo(np.int64).min

UNIT_RELATIVE = "seconds from an arbitrary start (relative clock)"
UNIT_NONE = "file order (no time column)"

NULL_STRINGS = [
    "", "null", "NULL", "Null", "None", "none", "NaN", "nan", "NA", "N/A", "n/a", "#N/A",
]
SAMPLE_BYTES = 1 << 16
SNIFF_LINES = 200


def _norm(name: Any) -> str:
    """Case- and separator-insensitive form of a column name: 'user_id', 'UserId' -> 'userid'."""
    return re.sub(r"[\W_]+", "", str(name).lower())


# Known column names, normalised, in order of preference within each role.
KNOWN_NAMES: dict[str, list[str]] = {
    "user": [
        "userid", "user", "visitorid", "visitor", "customerid", "customer", "reviewerid",
        "reviewer", "clientid", "client", "memberid", "member", "accountid", "account",
        "username", "userlogin", "uid", "viewerid", "listenerid", "buyerid", "personid",
        "profileid", "sessionid", "session", "visitid", "cookieid",
    ],
    "item": [
        "itemid", "item", "movieid", "movie", "productid", "product", "asin", "sku",
        "articleid", "article", "contentid", "videoid", "video", "bookid", "isbn", "businessid",
        "recipeid", "courseid", "newsid", "postid", "offerid", "iid", "trackid", "track",
        "song", "songid", "trackname", "songname", "musicid", "artistid", "artist",
        "artistname",
    ],
    "timestamp": [
        "timestamp", "ts", "eventtime", "eventtimestamp", "datetime", "time", "unixreviewtime",
        "unixtime", "epoch", "listenedat", "playedat", "createdat", "created", "occurredat",
        "timestampms", "timestamputc", "eventdate", "clicktime", "viewtime", "ratingtime",
        "reviewtime", "date", "day",
    ],
    "event": [
        "eventtype", "event", "behaviortype", "behaviourtype", "behavior", "behaviour", "action",
        "actiontype", "interaction", "interactiontype", "eventname", "activity", "type",
    ],
    "value": [
        "rating", "ratings", "score", "overall", "stars", "value", "price", "amount", "revenue",
        "dwell", "dwelltime", "duration", "playcount", "plays", "count", "quantity", "qty",
        "weight", "reward",
    ],
}
# Names that are known but belong to none of the roles: they help header detection and are
# never picked by content (a 'country' column is not an event type).
OTHER_NAMES = {
    "category", "categoryid", "categories", "categoryname", "categorycode", "genre", "genres",
    "title", "name", "transactionid", "orderid", "year", "description", "brand", "country",
    "city", "device", "platform", "helpful", "reviewtext", "summary", "url", "reviewername",
    "maincat", "department", "id", "label", "movietitle", "itemname", "productname", "tags",
}
ITEM_ID_NAMES = KNOWN_NAMES["item"][:22] + ["id"] + KNOWN_NAMES["item"][22:]
TITLE_NAMES = [
    "title", "name", "movietitle", "itemname", "itemtitle", "productname", "producttitle",
    "trackname", "songname", "artistname", "label",
]
CATEGORY_NAMES = [
    "category", "categoryname", "categories", "genres", "genre", "categoryid", "categorycode",
    "maincat", "department", "section", "class", "type",
]
ALL_KNOWN = (
    set().union(*KNOWN_NAMES.values()) | OTHER_NAMES | set(TITLE_NAMES) | set(CATEGORY_NAMES)
)
EVENT_VOCABULARY = {
    "view", "views", "pv", "click", "clicks", "cart", "addtocart", "addtobasket", "basket",
    "buy", "purchase", "purchased", "order", "transaction", "checkout", "fav", "favorite",
    "favourite", "like", "dislike", "share", "play", "listen", "skip", "rate", "review",
    "search", "impression", "wishlist", "removefromcart", "download", "comment", "watch",
    "visit", "open", "save", "bookmark", "subscribe",
}

_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE_RE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T].*)?$")
_GENERIC_RE = re.compile(r"^column_\d+$")


# ---------------------------------------------------------------------------------------------
# Data classes (the contract other stages code against)


@dataclass
class ColumnMapping:
    """Which source column became which canonical column, and why (in words)."""

    user: str
    item: str
    timestamp: str | None  # None only when explicitly asked for: then file order is time order
    event: str | None = None
    value: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "user": self.user, "item": self.item, "timestamp": self.timestamp,
            "event": self.event, "value": self.value, "reasons": dict(self.reasons),
        }

    def columns(self) -> dict[str, str]:
        """Role -> source column, for the roles that were mapped (usable as `mapping=`)."""
        return {r: getattr(self, r) for r in ROLES if getattr(self, r) is not None}


@dataclass
class ValidationReport:
    """What was read, what was kept, what was dropped and why."""

    source: str
    file_format: str
    encoding: str
    delimiter: str | None
    has_header: bool
    rows_read: int
    rows_kept: int
    dropped: dict[str, int]
    examples: dict[str, list[dict]]
    timestamp_unit: str
    time_min: pd.Timestamp | None
    time_max: pd.Timestamp | None
    n_users: int
    n_items: int
    event_counts: dict[str, int]
    mapping: ColumnMapping
    notes: list[str] = field(default_factory=list)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    def to_dict(self) -> dict:
        def stamp(t: pd.Timestamp | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "source": self.source, "file_format": self.file_format, "encoding": self.encoding,
            "delimiter": self.delimiter, "has_header": self.has_header,
            "rows_read": self.rows_read, "rows_kept": self.rows_kept,
            "rows_dropped": self.rows_dropped, "dropped": dict(self.dropped),
            "examples": {k: [dict(e) for e in v] for k, v in self.examples.items()},
            "timestamp_unit": self.timestamp_unit, "time_min": stamp(self.time_min),
            "time_max": stamp(self.time_max), "n_users": self.n_users, "n_items": self.n_items,
            "event_counts": dict(self.event_counts), "mapping": self.mapping.to_dict(),
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        delim = {None: "", "\t": ", tab-separated", "::": ", '::'-separated"}.get(
            self.delimiter, f", delimiter '{self.delimiter}'"
        )
        header = ", header row" if self.has_header else ", no header row"
        unit = self.timestamp_unit
        if unit in UNIT_WORDS:
            unit = f"{unit} (epoch {UNIT_WORDS[unit]})"
        lines = [
            f"Source:   {self.source} ({self.file_format}, {self.encoding}{delim}{header})",
            f"Rows:     {self.rows_read:,} read, {self.rows_kept:,} kept, "
            f"{self.rows_dropped:,} dropped",
            f"Users:    {self.n_users:,}",
            f"Items:    {self.n_items:,}",
            f"Time:     {_fmt_time(self.time_min)} to {_fmt_time(self.time_max)}",
            f"Unit:     {unit}",
            "Events:   " + ", ".join(f"{k} {v:,}" for k, v in self.event_counts.items()),
            "Columns:",
        ]
        for role in ROLES:
            col = getattr(self.mapping, role)
            reason = self.mapping.reasons.get(role, "")
            shown = "(none)" if col is None else col
            lines.append(f"  {role:<9} <- {shown}" + (f"   [{reason}]" if reason else ""))
        if self.dropped:
            lines.append("Dropped rows:")
            for reason, count in self.dropped.items():
                lines.append(f"  {count:>9,}  {reason}")
                for ex in self.examples.get(reason, [])[:3]:
                    lines.append("             e.g. " + _fmt_example(ex))
        if self.notes:
            lines.append("Notes:")
            lines.extend(f"  - {note}" for note in self.notes)
        return "\n".join(lines)


@dataclass
class EventLog:
    """The canonical event table (DESIGN.md section 2), its report and an optional item table."""

    events: pd.DataFrame
    report: ValidationReport
    items: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        ev = self.events
        if not isinstance(ev, pd.DataFrame):
            raise _error("The event table must be a pandas DataFrame.")
        for col in ("user_id", "item_id", "timestamp", "event", "value"):
            if col not in ev.columns:
                raise _error(f"The event table has no '{col}' column.")
        for col in ("user_id", "item_id"):
            if not pd.api.types.is_string_dtype(ev[col].dtype) or ev[col].isna().any():
                raise _error(f"Column '{col}' of the event table must hold text with no gaps.")
        ts = ev["timestamp"].dtype
        if not (isinstance(ts, pd.DatetimeTZDtype) and str(ts.tz) == "UTC" and ts.unit == "ns"):
            raise _error(
                f"Column 'timestamp' of the event table must be datetime64[ns, UTC], not {ts}."
            )
        if ev["timestamp"].isna().any():
            raise _error("Column 'timestamp' of the event table has missing times.")
        if not isinstance(ev["event"].dtype, pd.CategoricalDtype):
            raise _error("Column 'event' of the event table must be categorical.")
        if ev["value"].dtype != np.float64:
            raise _error("Column 'value' of the event table must be float64.")
        if self.items is not None:
            for col in ("item_id", "title", "category"):
                if col not in self.items.columns:
                    raise _error(f"The item table has no '{col}' column.")


# ---------------------------------------------------------------------------------------------
# Reading: bytes or path -> raw frame


def read_table(source: Any, name: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Read a CSV/TSV/.dat/JSON-lines/Parquet file (optionally gzip/zip/bz2/xz) into a raw frame.

    CSV-like files come back with every column as text (conversion is load_events' job);
    Parquet and JSON keep their own types. The info dict says how the file was read: format,
    compression, encoding, delimiter, has_header, malformed line count + examples, the source
    line number of every frame row ("lines"), and notes.
    """
    return _read_table(source, name, hint_names=(), max_rows=None)


def _read_table(
    source: Any, name: str | None, hint_names: tuple[str, ...], max_rows: int | None
) -> tuple[pd.DataFrame, dict]:
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        frame.columns = _unique_names([str(c) for c in frame.columns])
        info = _new_info(name or "DataFrame", "dataframe")
        info["lines"] = np.arange(1, len(frame) + 1, dtype=np.int64)
        return frame, info

    data, name = _source_bytes(source, name)
    info = _new_info(name, "")
    data, compression = _unwrap_archives(data, name, info)
    _reject_non_tabular(data, name)

    if data[:4] == b"PAR1":
        frame = _read_parquet(data, max_rows)
        info["file_format"] = "parquet"
        info["lines"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    else:
        data, info["encoding"] = _decode_to_utf8(data, info["notes"])
        head = data[:SAMPLE_BYTES].lstrip()
        if head[:1] in (b"{", b"["):
            frame = _read_json(data, info)
        else:
            frame = _read_delimited(data, info, hint_names, max_rows)
    if compression:
        info["file_format"] += f" ({', '.join(compression)})"
    return frame, info


def _new_info(source: str, file_format: str) -> dict:
    return {
        "source": source, "file_format": file_format, "encoding": "n/a", "delimiter": None,
        "has_header": True, "malformed": 0, "malformed_reason": REASON_MALFORMED,
        "malformed_examples": [], "blank_lines": 0, "lines": np.zeros(0, np.int64), "notes": [],
    }


def _source_bytes(source: Any, name: str | None) -> tuple[bytes, str]:
    """Bytes from an upload, a file-like object or a path (a str with a newline is content)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name or "upload"
    if hasattr(source, "getvalue"):  # BytesIO, Streamlit's UploadedFile
        data = source.getvalue()
        return (data.encode() if isinstance(data, str) else bytes(data)), (
            name or str(getattr(source, "name", "upload"))
        )
    if hasattr(source, "read"):
        data = source.read()
        return (data.encode() if isinstance(data, str) else bytes(data)), (
            name or str(getattr(source, "name", "upload"))
        )
    if isinstance(source, str) and "\n" in source:
        return source.encode("utf-8"), name or "text"
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise _error(f"File not found: {path}. Check the path and try again.")
        if path.is_dir():
            raise _error(f"{path} is a folder, not a file. Give the path of the data file.")
        try:
            return path.read_bytes(), name or str(path)
        except OSError as exc:
            raise _error(f"Could not open {path} ({exc.strerror}). Check the file's permissions.")
    raise _error(
        f"Cannot read events from a {type(source).__name__}; give a file path, bytes or a "
        "DataFrame."
    )


def _unwrap_archives(data: bytes, name: str, info: dict) -> tuple[bytes, list[str]]:
    """Undo gzip / zip / bz2 / xz by their magic bytes (not the extension), also nested."""
    done: list[str] = []
    for _ in range(4):
        try:
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
                done.append("gzip")
            elif data[:3] == b"BZh" and data[3:4].isdigit():
                data = bz2.decompress(data)
                done.append("bz2")
            elif data[:6] == b"\xfd7zXZ\x00":
                data = lzma.decompress(data)
                done.append("xz")
            elif data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
                data, member = _unzip(data, name, info)
                done.append(f"zip: {member}")
            else:
                break
        except LTSIError:
            raise
        except Exception:  # zlib.error, BadZipFile, EOFError, LZMAError, CRC errors ...
            raise _error(
                f"{_base(name)} is a compressed file that is damaged or cut short; "
                "download or export it again."
            ) from None
    return data, done


def _unzip(data: bytes, name: str, info: dict) -> tuple[bytes, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        if any(n.startswith("xl/") for n in names):
            raise _excel_error(name)
        if any(n.startswith("word/") or n.startswith("ppt/") for n in names) or "mimetype" in names:
            raise _error(
                f"{_base(name)} is an office document, not a data table. "
                "Save the table as CSV and upload that."
            )
        members = [
            i for i in zf.infolist()
            if not i.is_dir() and not i.filename.startswith("__MACOSX/")
            and not _base(i.filename).startswith((".", "~$"))
        ]
        if not members:
            raise _error(f"The archive {_base(name)} is empty; put the data file inside it.")

        def preference(i: zipfile.ZipInfo) -> tuple:
            low = i.filename.lower()
            data_ext = low.endswith(
                (".csv", ".tsv", ".txt", ".dat", ".data", ".parquet", ".json", ".jsonl",
                 ".ndjson", ".gz", ".zip", ".xlsx", ".xls")
            )
            keyword = any(k in low for k in ("rating", "event", "click", "interaction",
                                             "listen", "review", "log", "behavior", "u.data"))
            return (data_ext, keyword, i.file_size)

        chosen = max(members, key=preference)
        if len(members) > 1:
            others = [m.filename for m in members if m is not chosen][:8]
            info["notes"].append(
                f"The archive holds {len(members)} files; read '{chosen.filename}' "
                f"(not read: {', '.join(others)})."
            )
        return zf.read(chosen), chosen.filename


def _excel_error(name: str) -> LTSIError:
    return _error(
        f"{_base(name)} is an Excel workbook, which cannot be read directly. Open it in Excel "
        "and save it as CSV (File > Save As > CSV UTF-8), then use the CSV file."
    )


def _reject_non_tabular(data: bytes, name: str) -> None:
    """Empty, binary and other non-table files get a plain explanation instead of a parse error."""
    if not data[:SAMPLE_BYTES].strip() and not data.strip():  # strip only if the head is blank
        what = "empty (0 bytes)" if not data else "empty (only blank space)"
        raise _error(f"{_base(name)} is {what}. Choose the file that contains the events.")
    magic = {
        b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
        b"%PDF": "a PDF document", b"7z\xbc\xaf": "a 7-Zip archive", b"Rar!": "a RAR archive",
        b"SQLite format 3": "an SQLite database", b"\x7fELF": "a program",
        b"MZ": "a Windows program",
    }
    for prefix, what in magic.items():
        if data.startswith(prefix):
            raise _error(
                f"{_base(name)} is {what}, not a data table. Upload the events as CSV, "
                "TSV, Parquet or JSON lines."
            )
    if data[:4] == b"RIFF" and data[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        raise _error(f"{_base(name)} is an image or media file, not a data table; upload a CSV.")
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise _excel_error(name)
    start = data[:512].lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html", b"<?xml")):
        raise _error(
            f"{_base(name)} is a web page or XML document, not a data table. If you downloaded "
            "it, the download probably failed; get the CSV file itself."
        )
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or data[:4] == b"PAR1":
        return  # UTF-16 text and Parquet have NUL bytes by design
    if b"\x00" in data[:SAMPLE_BYTES]:
        raise _error(
            f"{_base(name)} looks like a binary file, not text (it contains NUL bytes). "
            "Save the events as CSV and try again."
        )


def _decode_to_utf8(data: bytes, notes: list[str]) -> tuple[bytes, str]:
    """Return UTF-8 bytes and the encoding we found; latin-1 is a reported fallback."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
        label = "utf-8 with BOM"
    elif data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        notes.append("The file is UTF-16 text (as Excel writes 'Unicode text'); it was converted.")
        return data.decode("utf-16").encode("utf-8"), "utf-16"
    else:
        label = "utf-8"
    if data.isascii():
        return data, label
    bad_at = _first_invalid_utf8(data)
    if bad_at is None:
        return data, label
    # cp1252 is what Windows calls "ANSI"; it only differs from latin-1 in 0x80-0x9F, where
    # latin-1 has invisible control characters, so prefer it when those bytes occur and decode.
    encoding = "latin-1"
    if re.search(rb"[\x80-\x9f]", data):
        try:
            text = data.decode("cp1252")
            encoding = "cp1252"
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    else:
        text = data.decode("latin-1")
    notes.append(
        f"The file is not valid UTF-8 (first problem at byte {bad_at:,}); it was read as "
        f"{encoding} (Western European). If accented letters look wrong, save it as UTF-8."
    )
    return text.encode("utf-8"), encoding


def _first_invalid_utf8(data: bytes) -> int | None:
    """Check UTF-8 in chunks so that a large file is never copied into one big str."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    step = 1 << 24
    for start in range(0, len(data), step):
        try:
            decoder.decode(data[start:start + step], final=start + step >= len(data))
        except UnicodeDecodeError as exc:
            return start + exc.start
    return None


def _read_parquet(data: bytes, max_rows: int | None) -> pd.DataFrame:
    try:
        pfile = pq.ParquetFile(pa.BufferReader(data))
        if max_rows is not None and pfile.metadata.num_rows > max_rows:
            raise _too_many_rows(pfile.metadata.num_rows, max_rows)
        table = pfile.read()
    except LTSIError:
        raise
    except Exception:
        raise _error(
            "The file looks like Parquet but could not be read (it may be damaged or cut short). "
            "Export it again, or save the events as CSV."
        ) from None
    frame = table.to_pandas()
    frame.columns = _unique_names([str(c) for c in frame.columns])
    return frame


def _read_json(data: bytes, info: dict) -> pd.DataFrame:
    """JSON lines (one object per line) or one JSON array of objects."""
    lines_format = data.lstrip()[:1] == b"{"
    info["file_format"] = "jsonl" if lines_format else "json"
    info["delimiter"] = None
    try:
        frame = pd.read_json(io.BytesIO(data), lines=lines_format, dtype=False)
        info["lines"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    except Exception:  # pandas raises ValueError or TypeError for a bad line
        if not lines_format:
            raise _error(
                "The file starts like JSON but could not be read as a list of records. "
                "Check that it is valid JSON, or save the events as CSV."
            ) from None
        # Slow path, only for broken files: parse line by line, count the bad lines.
        records, lines = [], []
        for number, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
                if not isinstance(obj, dict):
                    raise ValueError
            except ValueError:
                info["malformed"] += 1
                info["malformed_reason"] = REASON_BAD_JSON
                if len(info["malformed_examples"]) < MAX_EXAMPLES:
                    info["malformed_examples"].append(
                        {"row": number, "text": raw.decode("utf-8", "replace")[:200]}
                    )
                continue
            records.append(obj)
            lines.append(number)
        frame = pd.DataFrame.from_records(records)
        info["lines"] = np.asarray(lines, dtype=np.int64)
    if isinstance(frame, pd.Series) or frame.shape[1] == 0:
        if info["malformed"]:
            return pd.DataFrame()
        raise _error("The JSON file holds no records with named fields; save it as CSV.")
    frame.columns = _unique_names([str(c) for c in frame.columns])
    return frame


def _read_delimited(
    data: bytes, info: dict, hint_names: tuple[str, ...], max_rows: int | None
) -> pd.DataFrame:
    """CSV/TSV/'::' text: sniff delimiter and header on a sample, then parse with pyarrow."""
    # Leading blank lines would shift pyarrow's row numbers; remember how many we removed.
    offset = 0
    if data[:1] in (b"\n", b"\r"):
        stripped = data.lstrip(b"\r\n")
        offset = data[: len(data) - len(stripped)].count(b"\n")
        data = stripped
    sample = data[:SAMPLE_BYTES].decode("utf-8", errors="replace")
    if len(data) > SAMPLE_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # drop the partial last line
    lines = [ln for ln in sample.splitlines() if ln.strip()][:SNIFF_LINES]
    if not lines:
        raise _error(f"{_base(info['source'])} contains no data. Choose the file with the events.")

    if sum("::" in ln for ln in lines) >= 0.8 * len(lines):
        delimiter = "::"
        rows = [ln.split("::") for ln in lines]
        info["file_format"] = "movielens-dat"
    else:
        delimiter = _sniff_delimiter(lines)
        if delimiter is None:
            raise _error(
                "Only one column was found: the file does not use comma, semicolon, tab or '|' "
                "between fields. Save it as CSV (comma-separated) and try again."
            )
        rows = list(csv.reader(lines, delimiter=delimiter))
        info["file_format"] = "tsv" if delimiter == "\t" else "csv"
    info["delimiter"] = delimiter

    has_header = _looks_like_header(rows, hint_names)
    info["has_header"] = has_header
    data_rows = rows[1:] if has_header else rows
    width = _mode([len(r) for r in data_rows]) if data_rows else len(rows[0])
    if has_header:
        names = [c.strip() for c in rows[0]]
        while len(names) > width and not names[-1]:
            names.pop()  # a trailing delimiter on the header line only
        if len(names) < width:
            info["notes"].append(
                f"The header names {len(names)} columns but the lines have {width} fields; "
                "the extra fields were named by position."
            )
        names += [f"column_{i + 1}" for i in range(len(names), width)]
        names = [n or f"column_{i + 1}" for i, n in enumerate(names)]
    else:
        names = [f"column_{i + 1}" for i in range(width)]
    names = _unique_names(names)

    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1) - int(has_header)
    if max_rows is not None and n_lines > max_rows * 1.05 + 10:
        raise _too_many_rows(n_lines, max_rows)  # cheap early refusal before parsing
    # (1.05: quoted values may hold line breaks, so lines can slightly outnumber rows)
    if has_header and not data_rows and len(data.strip().splitlines()) <= 1:
        raise _error(
            f"The file has only a header row ({', '.join(names)}) and no data rows. "
            "Add the events below the header."
        )

    if delimiter == "::":
        # pyarrow needs a one-character delimiter; \x1f (unit separator) never occurs in text.
        data = data.replace(b"::", b"\x1f")
    parsed = _parse_csv(data, delimiter, names, has_header, quoting=delimiter != "::")
    if delimiter != "::" and parsed.rows < n_lines:
        # Fewer rows than lines: either quoted values with line breaks (fine) or an unpaired
        # quote (a name like "Weird Al" Yankovic) that swallowed lines. Read again with quotes
        # as plain characters and keep whichever reading gives more good rows.
        plain = _parse_csv(data, delimiter, names, has_header, quoting=False)
        if plain.table.num_rows > parsed.table.num_rows:
            parsed = plain
            info["notes"].append(
                "Quote marks do not pair up in this file, so they were read as plain characters."
            )
    del data
    frame = parsed.table.to_pandas()
    del parsed.table
    bad_numbers = parsed.bad
    info["malformed_examples"] = [
        {**ex, "row": None if ex["row"] is None else ex["row"] + offset} for ex in parsed.examples
    ]
    if parsed.blank:
        info["blank_lines"] += len(parsed.blank)

    # Source line number of every row: rows are consecutive lines except for skipped lines.
    first_line = 1 + int(has_header)
    bad = np.sort(np.asarray([b for b in bad_numbers + parsed.blank if b >= 0], dtype=np.int64))
    k = np.arange(len(frame), dtype=np.int64)
    lines_arr = k + first_line
    if len(bad):
        gaps = bad - np.arange(len(bad)) - first_line  # rows kept before each skipped line
        lines_arr += np.searchsorted(gaps, k, side="right")
    # Blank lines come through as rows with every field empty; they are not data.
    blank = frame.iloc[:, 0].isna().to_numpy().copy() if len(frame) else np.zeros(0, bool)
    for col in frame.columns[1:]:
        idx = np.flatnonzero(blank)
        if not len(idx):
            break
        blank[idx] = frame[col].iloc[idx].isna().to_numpy()
    if blank.any():
        info["blank_lines"] += int(blank.sum())
        frame = frame.loc[~blank].reset_index(drop=True)
        lines_arr = lines_arr[~blank]
    if info["blank_lines"]:
        n = info["blank_lines"]
        info["notes"].append(f"{n:,} empty line{'s were' if n != 1 else ' was'} skipped.")
    info["lines"] = lines_arr + offset
    info["malformed"] = len(bad_numbers)
    if has_header and len(frame) == 0 and not bad_numbers:
        raise _error(
            f"The file has only a header row ({', '.join(names)}) and no data rows. "
            "Add the events below the header."
        )
    return frame


@dataclass
class _Parsed:
    table: pa.Table
    rows: int  # rows parsed + rows skipped, i.e. lines seen after the header
    bad: list[int]  # line numbers of lines with the wrong number of fields (-1 if unknown)
    blank: list[int]  # line numbers of lines with only spaces
    examples: list[dict]


def _parse_csv(data: bytes, delimiter: str, names: list[str], has_header: bool,
               quoting: bool) -> _Parsed:
    """pyarrow's fast CSV reader, every column as text, counting (never hiding) bad lines."""
    bad: list[int] = []
    blank: list[int] = []
    examples: list[dict] = []

    def on_invalid(row: Any) -> str:
        number = row.number if row.number is not None else -1
        if not row.text.strip():
            blank.append(number)
        else:
            bad.append(number)
            if len(examples) < MAX_EXAMPLES:
                examples.append({
                    "row": row.number, "text": row.text.replace("\x1f", "::")[:200],
                    "fields": row.actual_columns, "expected": row.expected_columns,
                })
        return "skip"

    sep = "\x1f" if delimiter == "::" else delimiter
    parse = pacsv.ParseOptions(delimiter=sep, quote_char='"' if quoting else False,
                               invalid_row_handler=on_invalid, ignore_empty_lines=False)
    # Single-threaded on purpose: only then does pyarrow report the line number of bad rows.
    read = pacsv.ReadOptions(use_threads=False, block_size=1 << 23, column_names=names,
                             skip_rows=int(has_header))
    convert = pacsv.ConvertOptions(default_column_type=pa.string(), strings_can_be_null=True,
                                   null_values=NULL_STRINGS, quoted_strings_can_be_null=True)
    try:
        table = pacsv.read_csv(io.BytesIO(data), read_options=read, parse_options=parse,
                               convert_options=convert)
    except pa.ArrowInvalid as exc:
        first = str(exc).splitlines()[0][:160]
        raise _error(
            f"The file could not be read as a table ({first}). Check that it is a plain CSV file."
        ) from None
    return _Parsed(table, table.num_rows + len(bad) + len(blank), bad, blank, examples)


def _sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits the sample into the most consistent number (> 1) of fields."""
    best, best_score = None, (0.0, 0)
    for delim in (",", "\t", ";", "|"):
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=delim)]
        except csv.Error:
            continue
        if not counts:
            continue
        width = _mode(counts)
        if width <= 1:
            continue
        score = (counts.count(width) / len(counts), width)
        if score > best_score:
            best, best_score = delim, score
    return best


def _looks_like_header(rows: list[list[str]], hint_names: tuple[str, ...]) -> bool:
    """Decide whether the first line names the columns (see the rules in order below)."""
    first = [c.strip() for c in rows[0]]
    below = rows[1:]

    def is_data(v: str) -> bool:
        return bool(_NUMBER_RE.match(v) or _DATE_RE.match(v) or _looks_iso(v))

    any_data = any(is_data(v) for v in first if v)
    # 1. known column names (and nothing that looks like a value)
    if not any_data and any(_norm(v) in ALL_KNOWN for v in first):
        return True
    # 2. the caller's mapping names the columns of the first line
    hints = [h for h in hint_names if h]
    if hints and not any_data and all(h in first or _norm(h) in map(_norm, first) for h in hints):
        return True
    # 3. a column is numbers / dates below a first value that is not
    for j, head in enumerate(first):
        values = [r[j].strip() for r in below if len(r) > j and r[j].strip()]
        if not values or not head or is_data(head):
            continue
        numeric = sum(bool(_NUMBER_RE.match(v)) for v in values) / len(values)
        dates = sum(bool(_DATE_RE.match(v) or _looks_iso(v)) for v in values) / len(values)
        if numeric >= 0.8 or dates >= 0.8:
            return True
    # 4. a first line with a number or date in it is data; an all-text one is taken as names
    return not any_data


def _looks_iso(v: str) -> bool:
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}", v))


# ---------------------------------------------------------------------------------------------
# Column mapping


def detect_columns(frame: pd.DataFrame, overrides: dict[str, str] | None = None) -> ColumnMapping:
    """Pick the user, item, timestamp, event and value columns: explicit > name > content."""
    mapping, notes = _detect_columns(frame, overrides)
    return mapping


def _detect_columns(
    frame: pd.DataFrame, overrides: dict[str, str | None] | None
) -> tuple[ColumnMapping, list[str]]:
    columns = [str(c) for c in frame.columns]
    chosen: dict[str, str | None] = {}
    reasons: dict[str, str] = {}
    notes: list[str] = []

    for role, col in _normalise_overrides(overrides).items():
        if col is None or str(col).strip() == "":
            if role in ("user", "item"):
                raise _error(f"The {role} column cannot be left out; name the column to use.")
            chosen[role] = None
            reasons[role] = "left out explicitly" if role != "timestamp" else (
                "left out explicitly: file order is used as time order")
            continue
        real = _resolve_column(str(col), columns, role)
        if real in [c for c in chosen.values() if c]:
            other = next(r for r, c in chosen.items() if c == real)
            raise _error(
                f"Column '{real}' was given for both {other} and {role}; give a different column "
                "for each."
            )
        chosen[role] = real
        reasons[role] = "given explicitly"

    # By name.
    for role in ROLES:
        if role in chosen:
            continue
        taken = {c for c in chosen.values() if c}
        ranked = sorted(
            (KNOWN_NAMES[role].index(_norm(c)), i, c)
            for i, c in enumerate(columns)
            if c not in taken and _norm(c) in KNOWN_NAMES[role]
        )
        if not ranked:
            continue
        pick = ranked[0][2]
        if role in ("user", "item") and len(ranked) > 1:
            pick = _skip_mostly_empty(frame, [c for _, _, c in ranked], role, notes)
        chosen[role] = pick
        reasons.setdefault(role, f"header '{pick}' is a known {role} column name")
        if pick != ranked[0][2]:
            reasons[role] = (
                f"header '{pick}' is a known {role} column name; '{ranked[0][2]}' was mostly empty"
            )

    # By content, for the roles still open.
    taken = {c for c in chosen.values() if c}
    free = [c for c in columns if c not in taken and _norm(c) not in OTHER_NAMES
            and _norm(c) not in ALL_KNOWN - OTHER_NAMES]
    profiles = {c: _profile(frame[c]) for c in free}

    if "timestamp" not in chosen:
        order = {"datetime": 0, "date_text": 1, "epoch": 2}
        cands = [(order[p["time_kind"]], i, c) for i, c in enumerate(free)
                 if (p := profiles[c])["time_kind"] in order]
        if cands:
            c = min(cands)[2]
            chosen["timestamp"] = c
            reasons["timestamp"] = (
                f"chosen by content: '{c}' holds {profiles[c]['time_words']}; override if wrong"
            )
            free.remove(c)

    if "event" not in chosen:
        for c in free:
            p = profiles[c]
            if p["eventish"] and (_GENERIC_RE.match(c) or p["event_vocab"]):
                chosen["event"] = c
                reasons["event"] = (
                    f"chosen by content: '{c}' has a few distinct words "
                    f"({', '.join(p['top'][:4])}); override if wrong"
                )
                free.remove(c)
                break

    idlike = [c for c in free if profiles[c]["idlike"]]
    for role in ("user", "item"):
        if role not in chosen and idlike:
            c = idlike.pop(0)
            chosen[role] = c
            free.remove(c)
            reasons[role] = (
                f"chosen by position/content: '{c}' is the first remaining ID-like column; "
                "override if wrong"
            )

    if "value" not in chosen:
        for c in free:
            p = profiles[c]
            if _GENERIC_RE.match(c) and p["valueish"]:
                chosen["value"] = c
                free.remove(c)
                reasons["value"] = (
                    f"chosen by position/content: '{c}' holds small numbers like ratings; "
                    "override if wrong"
                )
                break

    available = ", ".join(columns)
    if not chosen.get("user"):
        raise _error(
            f"No user column was found (columns: {available}). Name the column that identifies "
            "the user (--user-col, or the user field of the mapping)."
        )
    if not chosen.get("item"):
        raise _error(
            f"No item column was found (columns: {available}). Name the column that identifies "
            "the item (--item-col, or the item field of the mapping)."
        )
    if "timestamp" not in chosen:
        raise _error(
            f"No time column was found (columns: {available}). Name the column with the time "
            "of each event (--time-col, or the timestamp field of the mapping)."
        )
    used = {c for c in chosen.values() if c}
    unused = [c for c in columns if c not in used]
    if unused:
        notes.append(f"Columns not used: {', '.join(unused)}.")
    mapping = ColumnMapping(
        user=chosen["user"], item=chosen["item"], timestamp=chosen["timestamp"],
        event=chosen.get("event"), value=chosen.get("value"), reasons=reasons,
    )
    return mapping, notes


_ROLE_ALIASES = {
    "user": "user", "userid": "user", "item": "item", "itemid": "item", "timestamp": "timestamp",
    "time": "timestamp", "ts": "timestamp", "event": "event", "eventtype": "event",
    "value": "value",
}


def _normalise_overrides(overrides: dict[str, Any] | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, col in (overrides or {}).items():
        role = _ROLE_ALIASES.get(_norm(key))
        if role is None:
            raise _error(
                f"Unknown mapping field '{key}'; use user, item, timestamp, event or value."
            )
        out[role] = col
    return out


def _resolve_column(col: str, columns: list[str], role: str) -> str:
    if col in columns:
        return col
    loose = [c for c in columns if _norm(c) == _norm(col) or c.strip() == col.strip()]
    if len(loose) == 1:
        return loose[0]
    raise _error(
        f"Column '{col}' (given for {role}) is not in the file. Available columns: "
        f"{', '.join(columns)}."
    )


def _skip_mostly_empty(frame: pd.DataFrame, ranked: list[str], role: str, notes: list[str]) -> str:
    """Prefer the best-named column unless it is mostly empty (e.g. Last.fm track ids)."""
    shares = {c: float(frame[c].isna().mean()) if len(frame) else 0.0 for c in ranked}
    for c in ranked:
        if shares[c] <= 0.5:
            if c != ranked[0]:
                notes.append(
                    f"The {role} column '{ranked[0]}' is empty in {shares[ranked[0]]:.0%} of rows; "
                    f"'{c}' was used instead."
                )
            return c
    return min(ranked, key=lambda c: (shares[c], ranked.index(c)))


def _profile(series: pd.Series, n: int = 2000) -> dict:
    """What a column looks like, from its first non-empty values (cheap, sample-based)."""
    s = series.head(50 * n).dropna().head(n)  # never copy a whole 5M-row column for this
    p = {"time_kind": None, "time_words": "", "idlike": False, "eventish": False,
         "event_vocab": False, "valueish": False, "top": []}
    if len(s) == 0:
        return p
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        p.update(time_kind="datetime", time_words="dates")
        return p
    if pd.api.types.is_bool_dtype(s.dtype):
        return p
    if pd.api.types.is_numeric_dtype(s.dtype):
        nums = s.astype("float64").to_numpy()
    else:
        text = s.astype("str").str.strip()
        nums = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if np.isnan(nums).mean() > 0.05:  # a text column
            iso = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True).notna().mean()
            dmy = text.str.match(_DATE_RE.pattern).mean()
            if max(iso, dmy) >= 0.9:
                p.update(time_kind="date_text", time_words="dates written as text")
                return p
            counts = text.value_counts()
            p["top"] = [str(v) for v in counts.index[:6]]
            letters = text.str.fullmatch(r"[A-Za-z][A-Za-z _\-]*").mean() >= 0.99
            few = len(counts) <= 20 and len(text) >= 3 * len(counts)
            vocab = any(_norm(v) in EVENT_VOCABULARY for v in counts.index[:20])
            p["eventish"] = bool(letters and len(counts) <= 20 and (few or vocab))
            p["event_vocab"] = bool(vocab)
            p["idlike"] = bool(text.str.len().mean() <= 64)
            return p
    nums = nums[~np.isnan(nums)]
    if len(nums) == 0:
        return p
    integer = bool(np.all(np.floor(nums) == nums))
    for unit, per_s in UNIT_PER_SECOND.items():
        share = np.mean((nums >= EPOCH_LOW_S * per_s) & (nums < EPOCH_HIGH_S * per_s))
        if share >= 0.9:
            p.update(time_kind="epoch",
                     time_words=f"numbers that look like epoch {UNIT_WORDS[unit]}")
            return p
    p["idlike"] = integer
    # Ratings-like: fractions (3.5, 12.99), or a few small whole numbers such as 1-5 or 0-10.
    # A constant column (Yoochoose's category '0') is not a rating.
    distinct = len(np.unique(nums))
    p["valueish"] = (not integer) or (2 <= distinct <= 11 and nums.min() >= 0 and nums.max() <= 10)
    return p


# ---------------------------------------------------------------------------------------------
# Conversion of each canonical column


def _as_arrow_text(series: pd.Series) -> pa.Array:
    """Text view of a column as a pyarrow string array, stripped, with '' as missing."""
    if pd.api.types.is_float_dtype(series.dtype):
        # IDs that went through a float column (JSON/Parquet with gaps): 196.0 -> "196"
        vals = series.to_numpy(dtype="float64", na_value=np.nan)
        whole = np.isfinite(vals) & (np.floor(vals) == vals)
        text = series.astype("str")
        if whole.any():
            ints = pd.Series(vals[whole].astype(np.int64), dtype="int64").astype("str")
            text = text.copy()
            text.iloc[np.flatnonzero(whole)] = ints.to_numpy()
        series = text
    elif not pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
        series = series.astype("str")
    arr = pa.array(series, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)


def _codes(arr: pa.Array, sort: bool) -> tuple[np.ndarray, pa.Array]:
    """Integer codes (-1 for missing) and the distinct values; sorted values if asked."""
    enc = pc.dictionary_encode(arr)
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    uniques = enc.dictionary
    if sort and len(uniques) > 1:
        order = pc.array_sort_indices(uniques).to_numpy()
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        valid = codes >= 0
        codes[valid] = rank[codes[valid]]
        uniques = uniques.take(pa.array(order))
    return codes, uniques


@dataclass
class _Times:
    ns: np.ndarray  # int64 nanoseconds since epoch, NAT_NS where unusable
    missing: np.ndarray
    unparseable: np.ndarray
    out_of_range: np.ndarray
    unit: str


def _parse_times(series: pd.Series, dayfirst: bool | None, notes: list[str]) -> _Times:
    n = len(series)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        s = series
        if getattr(s.dt, "tz", None) is None:
            s = s.dt.tz_localize("UTC")
            notes.append("Times had no time zone; they were taken as UTC.")
        else:
            s = s.dt.tz_convert("UTC")
        ns = _ns_clipped(s)
        missing = ns == NAT_NS
        return _window(ns, missing, np.zeros(n, bool), "datetime (stored as dates)")
    if pd.api.types.is_bool_dtype(series.dtype):
        return _Times(np.full(n, NAT_NS), np.zeros(n, bool), np.ones(n, bool), np.zeros(n, bool),
                      "unreadable")
    if pd.api.types.is_numeric_dtype(series.dtype):
        vals = series.to_numpy(dtype="float64", na_value=np.nan)
        ints = series.to_numpy(dtype="int64", na_value=0) if series.dtype.kind in "iu" else None
        missing = np.isnan(vals)
        return _epoch(vals, ints, missing, np.zeros(n, bool), None, notes)

    arr = _as_arrow_text(series)
    missing = _bools(arr.is_null())
    present = int((~missing).sum())
    ints = _try_int64(arr)
    if ints is not None:  # the fast, common case: every value is a whole number
        iv = pc.fill_null(ints, 0).to_numpy(zero_copy_only=False)
        return _epoch(iv.astype("float64"), iv, missing, np.zeros(n, bool), arr, notes)
    # Which values are numbers: plain digits by a fast kernel, the few others by a regex.
    is_num = _bools(pc.ascii_is_decimal(arr))
    other = np.flatnonzero(~missing & ~is_num)
    if len(other):
        sub = _bools(pc.match_substring_regex(arr.take(pa.array(other)), _NUMBER_RE.pattern))
        is_num[other[sub]] = True
    if present and is_num.sum() >= 0.5 * present:
        # Mostly numbers with some junk: convert the numbers, the rest cannot be read.
        numbers = pc.if_else(pa.array(is_num), arr, pa.scalar(None, arr.type))
        ints = _try_int64(numbers)
        unparseable = ~missing & ~is_num
        if ints is not None:
            iv = pc.fill_null(ints, 0).to_numpy(zero_copy_only=False)
            vals = np.where(is_num, iv.astype("float64"), np.nan)
            return _epoch(vals, iv, missing, unparseable, arr, notes)
        vals = pc.fill_null(pc.cast(numbers, pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        return _epoch(vals, None, missing, unparseable, arr, notes)
    return _text_dates(arr, missing, dayfirst, notes)


def _bools(arr: pa.Array) -> np.ndarray:
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool)


def _try_int64(arr: pa.Array) -> pa.Array | None:
    try:
        return pc.cast(arr, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _epoch(
    vals: np.ndarray, ints: np.ndarray | None, missing: np.ndarray, unparseable: np.ndarray,
    text: pa.Array | None, notes: list[str],
) -> _Times:
    """Numbers -> times: the unit is the one that puts most values in 1990-2100."""
    ok = ~missing & ~unparseable
    v = vals[ok]
    v = v[:: max(1, len(v) // 200_000)]  # the unit is decided on an even sample; cheap
    shares = {u: float(np.mean((v >= EPOCH_LOW_S * k) & (v < EPOCH_HIGH_S * k))) if len(v) else 0.0
              for u, k in UNIT_PER_SECOND.items()}
    unit = max(shares, key=shares.get)
    n = len(vals)
    if shares[unit] < 0.5 and text is not None:
        compact = _compact_dates(text, ok, notes)
        if compact is not None:
            return compact
    v = vals[ok]
    if shares[unit] == 0.0 and len(v) and v.min() >= 0 and v.max() < EPOCH_LOW_S:
        notes.append(
            f"The time column holds small numbers ({v.min():g} to {v.max():g}), not dates; they "
            "were read as seconds from an arbitrary start, so calendar dates shown are not real."
        )
        ns = np.full(n, NAT_NS, dtype=np.int64)
        ns[ok] = np.round(vals[ok] * 1e9).astype(np.int64)
        return _Times(ns, missing, unparseable, np.zeros(n, bool), UNIT_RELATIVE)
    per_s = UNIT_PER_SECOND[unit]
    in_range = ok & (vals >= EPOCH_LOW_S * per_s) & (vals < EPOCH_HIGH_S * per_s)
    ns = np.full(n, NAT_NS, dtype=np.int64)
    factor = 10**9 // per_s
    if ints is not None:
        ns[in_range] = ints[in_range] * factor
    else:
        ns[in_range] = np.round(vals[in_range] * factor).astype(np.int64)
    out = ok & ~in_range
    if out.any():
        notes.append(
            f"Times were read as epoch {UNIT_WORDS[unit]}; {int(out.sum()):,} values fall outside "
            "1990-2100 in that unit and were dropped."
        )
    return _Times(ns, missing, unparseable, out, unit)


def _compact_dates(text: pa.Array, ok: np.ndarray, notes: list[str]) -> _Times | None:
    """Numbers like 20200131 or 20200131235959 are dates, not epochs."""
    s = pd.Series(text, dtype="str")
    for length, fmt, words in ((8, "%Y%m%d", "YYYYMMDD"), (14, "%Y%m%d%H%M%S", "YYYYMMDDhhmmss")):
        if (s[ok].str.len() == length).mean() >= 0.9:
            parsed = pd.to_datetime(s, format=fmt, errors="coerce", utc=True)
            ns = _ns_clipped(parsed)
            missing = s.isna().to_numpy()
            unparseable = ~missing & (ns == NAT_NS)
            notes.append(f"Times are numbers written as {words} dates; times were taken as UTC.")
            return _window(ns, missing, unparseable, f"datetime ({words} numbers)")
    return None


def _text_dates(arr: pa.Array, missing: np.ndarray, dayfirst: bool | None,
                notes: list[str]) -> _Times:
    """Dates as text: ISO 8601 first; the rest with an explicit, reported day-first choice.

    Each distinct text is parsed once (logs repeat their times a lot), and a format is tried
    on all values only if it reads some of an even sample, so a miss costs next to nothing.
    """
    codes, uniques = _codes(arr, sort=False)
    u = pd.Series(uniques, dtype="str")
    parsed = _try_format(u, "ISO8601")
    labels = []
    if parsed.notna().any():
        labels.append("ISO")
        has_zone = u[parsed.notna()].str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
        if not has_zone.any():
            notes.append("Times had no time zone; they were taken as UTC.")
        elif not has_zone.all():
            notes.append("Some times had no time zone; those were taken as UTC.")
    rest = parsed.isna() & ~u.str.fullmatch(_NUMBER_RE.pattern)
    if rest.any():
        cand = u[rest]
        parts = pc.extract_regex(pa.array(cand),
                                 r"^\s*(?P<a>\d{1,2})(?P<sep>[/.\-])(?P<b>\d{1,2})[/.\-]\d{2,4}")
        matched = parts.is_valid()  # a struct slot is null where the pattern did not match

        def field_of(name: str) -> pa.Array:
            return pc.if_else(matched, parts.field(name), pa.scalar(None, pa.string()))

        first = pd.Series(_as_float(field_of("a")), index=cand.index)
        second = pd.Series(_as_float(field_of("b")), index=cand.index)
        seps = pd.Series(field_of("sep"), index=cand.index, dtype="str")
        more = pd.Series(pd.NaT, index=cand.index, dtype="datetime64[us, UTC]")
        if first.notna().any():
            dayfirst = _decide_dayfirst(cand, seps, first, second, dayfirst, notes)
            labels.append("day-first" if dayfirst else "month-first")
            more = _fixed_formats(cand, dayfirst, seps.mode().iloc[0])
        else:
            labels.append("text")
        todo = more.isna()
        if todo.any():  # a few ISO values the sample missed
            more[todo] = pd.to_datetime(cand[todo], format="ISO8601", utc=True,
                                        errors="coerce").dt.as_unit("us")
            todo = more.isna()
        # Anything else ("Apr 7, 2014", "2014/04/07 10:51"): value by value, slow but general.
        # Year-first text is never day-first (dateutil would turn 2014-01-02 into 1 February).
        year_first = cand.str.match(r"\s*\d{4}").to_numpy(dtype=bool, na_value=False)
        for mask, first_is_day in ((todo & year_first, False), (todo & ~year_first, dayfirst)):
            if mask.any():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    more[mask] = pd.to_datetime(cand[mask], format="mixed", utc=True,
                                                dayfirst=bool(first_is_day),
                                                errors="coerce").dt.as_unit("us")
        parsed = parsed.dt.as_unit("us")
        parsed[rest] = more
    uniq_ns = _ns_clipped(parsed)
    ns = np.where(codes >= 0, uniq_ns[np.maximum(codes, 0)], NAT_NS)
    unparseable = ~missing & (ns == NAT_NS)
    unit = "datetime (" + " and ".join(labels or ["text"]) + " strings)"
    return _window(ns, missing, unparseable, unit)


def _as_float(arr: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.cast(arr, pa.float64()), np.nan).to_numpy(zero_copy_only=False)


def _try_format(values: pd.Series, fmt: str) -> pd.Series:
    """to_datetime with one format, skipped (all NaT) when it reads nothing in a sample."""
    sample = values.iloc[:: max(1, len(values) // 500)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if pd.to_datetime(sample, format=fmt, utc=True, errors="coerce").notna().any() \
                or len(sample) == len(values):
            return pd.to_datetime(values, format=fmt, utc=True, errors="coerce").dt.as_unit("us")
    return pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")


def _fixed_formats(cand: pd.Series, dayfirst: bool, sep: str) -> pd.Series:
    """Day/month/year text with the usual time parts, by exact formats: vectorised and fast
    (format='mixed' parses value by value, minutes for millions of distinct times)."""
    d1, d2 = ("%d", "%m") if dayfirst else ("%m", "%d")
    times = ["", " %H:%M:%S", " %H:%M", " %H:%M:%S.%f", " %I:%M:%S %p", " %I:%M %p"]
    out = pd.Series(pd.NaT, index=cand.index, dtype="datetime64[us, UTC]")
    todo = cand
    for year in ("%Y", "%y"):
        for time in times:
            if todo.empty:
                return out
            got = _try_format(todo, f"{d1}{sep}{d2}{sep}{year}{time}")
            hit = got.notna()
            if hit.any():
                out[got.index[hit]] = got[hit]
                todo = todo[~hit]
    return out


def _decide_dayfirst(cand: pd.Series, seps: pd.Series, first: pd.Series, second: pd.Series,
                     dayfirst: bool | None, notes: list[str]) -> bool:
    if dayfirst is not None:
        notes.append(
            f"Dates like {cand.iloc[0]} were read as {'day' if dayfirst else 'month'}-first, "
            "as requested."
        )
        return dayfirst
    big_first, big_second = first > 12, second > 12
    if big_first.any() and not big_second.any():
        ex = cand[big_first].iloc[0]
        notes.append(f"Dates were read as day-first (day/month/year) because some, like {ex}, "
                     "start with a number above 12.")
        return True
    if big_second.any() and not big_first.any():
        ex = cand[big_second].iloc[0]
        notes.append(f"Dates were read as month-first (month/day/year) because some, like {ex}, "
                     "have a second number above 12.")
        return False
    if big_first.any() and big_second.any():
        choice = bool(big_first.sum() >= big_second.sum())
        notes.append(
            "Dates mix day-first and month-first writing; they were read as "
            f"{'day' if choice else 'month'}-first and the others could not be read. "
            "Use dayfirst (--dayfirst / --monthfirst) to choose."
        )
        return choice
    if (seps == ".").any():
        notes.append(f"Dates like {cand.iloc[0]} could be day-first or month-first; dates with "
                     "dots are usually day.month.year, so they were read day-first. Use "
                     "--monthfirst (dayfirst=False) if that is wrong.")
        return True
    notes.append(
        f"Dates like {cand.iloc[0]} could be day-first or month-first and no date decides it; "
        "they were read month-first (02/01/2026 = 1 February 2026). Use --dayfirst "
        "(dayfirst=True) if the day comes first."
    )
    return False


def _ns_clipped(s: pd.Series) -> np.ndarray:
    """UTC datetimes (any resolution) -> int64 ns. Dates outside 1900-2100 become values just
    outside the window (year 224 does not even fit in nanoseconds), so _window drops them."""
    low = pd.Timestamp(DATE_LOW_NS, tz="UTC")
    high = pd.Timestamp(DATE_HIGH_NS, tz="UTC")
    early = (s < low).to_numpy(dtype=bool, na_value=False)
    late = (s >= high).to_numpy(dtype=bool, na_value=False)
    if early.any() or late.any():
        s = s.where(~(early | late))
    ns = s.dt.as_unit("ns").to_numpy(dtype="int64", na_value=NAT_NS)
    ns[early] = DATE_LOW_NS - 1
    ns[late] = DATE_HIGH_NS
    return ns


def _window(ns: np.ndarray, missing: np.ndarray, unparseable: np.ndarray, unit: str) -> _Times:
    ok = ~missing & ~unparseable
    out = ok & ((ns < DATE_LOW_NS) | (ns >= DATE_HIGH_NS))
    ns = np.where(out, NAT_NS, ns)
    return _Times(ns, missing, unparseable, out, unit)


def _parse_values(series: pd.Series, column: str, notes: list[str]) -> np.ndarray:
    """Ratings/prices as float; unreadable values are blanked (the row stays) and counted."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64").to_numpy()
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    arr = _as_arrow_text(series)
    present = ~_bools(arr.is_null())
    try:
        vals = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = pd.Series(arr, dtype="str")
        vals = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        failed = present & np.isnan(vals)
        comma = text.str.fullmatch(r"[+-]?\d+,\d+").to_numpy(dtype=bool, na_value=False)
        if failed.any() and comma[failed].mean() > 0.5:
            fixed = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
            vals = np.where(failed, fixed.to_numpy(dtype="float64", na_value=np.nan), vals)
            notes.append(f"Values in '{column}' use a decimal comma (4,5); they were read as 4.5.")
    vals = np.asarray(vals, dtype="float64")
    blanked = int((present & np.isnan(vals)).sum())
    if blanked:
        notes.append(
            f"{blanked:,} values in '{column}' could not be read as numbers and were left blank "
            "(the rows were kept)."
        )
    return vals


# ---------------------------------------------------------------------------------------------
# Loading


class _Drops:
    """Applies drop reasons in order; each row is counted under the first reason it hits."""

    def __init__(self, frame: pd.DataFrame, lines: np.ndarray, columns: list[str]):
        self.frame, self.lines, self.columns = frame, lines, columns
        self.keep = np.ones(len(frame), dtype=bool)
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[dict]] = {}

    def drop(self, reason: str, mask: np.ndarray) -> None:
        hit = mask & self.keep
        count = int(hit.sum())
        if not count:
            return
        self.keep &= ~hit
        self.counts[reason] = self.counts.get(reason, 0) + count
        rows = np.flatnonzero(hit)[:MAX_EXAMPLES]
        self.examples.setdefault(reason, []).extend(self._example(i) for i in rows)

    def _example(self, i: int) -> dict:
        ex: dict[str, Any] = {"row": int(self.lines[i])}
        for col in self.columns:
            ex[col] = _plain(self.frame[col].iloc[i])
        return ex


def load_events(
    source: Any,
    *,
    name: str | None = None,
    mapping: dict[str, str] | None = None,
    items: Any = None,
    min_events: int = 1,
    dayfirst: bool | None = None,
    max_rows: int = 50_000_000,
) -> EventLog:
    """Read, map, convert and validate an event log; see the module docstring."""
    if not isinstance(min_events, (int, np.integer)) or min_events < 1:
        raise _error(f"The minimum number of events per user must be 1 or more, not {min_events}.")
    hints = tuple(str(v) for v in (mapping or {}).values() if v)
    frame, info = _read_table(source, name, hints, max_rows)
    notes: list[str] = list(info["notes"])
    malformed = int(info["malformed"])
    rows_read = len(frame) + malformed
    if rows_read > max_rows:
        raise _too_many_rows(rows_read, max_rows)
    if len(frame) == 0:
        if malformed:
            raise _error(
                f"No usable rows: all {rows_read:,} rows were dropped because "
                f"'{info['malformed_reason']}'. {_hint(info['malformed_reason'], None, info)}"
            )
        raise _error(
            f"{_base(info['source'])} contains no data rows. Choose the file with the events."
        )

    cmap, mapping_notes = _detect_columns(frame, mapping)
    notes.extend(mapping_notes)
    used = [c for c in (cmap.user, cmap.item, cmap.timestamp, cmap.event, cmap.value) if c]
    drops = _Drops(frame, info["lines"], used)
    if malformed:
        drops.counts[info["malformed_reason"]] = malformed
        drops.examples[info["malformed_reason"]] = list(info["malformed_examples"])

    user_arr = _as_arrow_text(frame[cmap.user])
    item_arr = _as_arrow_text(frame[cmap.item])
    drops.drop(REASON_NO_USER, _bools(user_arr.is_null()))
    drops.drop(REASON_NO_ITEM, _bools(item_arr.is_null()))

    if cmap.timestamp is None:
        ns = np.arange(len(frame), dtype=np.int64) * 10**9
        unit = UNIT_NONE
        notes.append("No time column was used: the order of rows in the file is the time order.")
    else:
        times = _parse_times(frame[cmap.timestamp], dayfirst, notes)
        drops.drop(REASON_NO_TIME, times.missing)
        drops.drop(REASON_BAD_TIME, times.unparseable)
        drops.drop(REASON_TIME_RANGE, times.out_of_range)
        ns, unit = times.ns, times.unit

    if cmap.event is not None:
        ev_arr = _as_arrow_text(frame[cmap.event])
        n_blank = int((drops.keep & _bools(ev_arr.is_null())).sum())
        if n_blank:
            notes.append(
                f"{n_blank:,} rows have no event type; they were given the type 'unknown'."
            )
            ev_arr = pc.fill_null(ev_arr, "unknown")
        ev_codes, ev_names = _codes(ev_arr, sort=True)
        ev_names = [str(x) for x in ev_names.to_pylist()]
    else:
        ev_codes, ev_names = np.zeros(len(frame), dtype=np.int64), [DEFAULT_EVENT]

    values = (
        _parse_values(frame[cmap.value], cmap.value, notes) if cmap.value is not None
        else np.full(len(frame), np.nan)
    )

    u_codes, u_names = _codes(user_arr, sort=True)
    i_codes, _ = _codes(item_arr, sort=False)

    # Stable sort of the rows still kept by (user, time): ties keep file order.
    kept = np.flatnonzero(drops.keep)
    by = pa.table({"u": u_codes[kept], "t": ns[kept]})
    order = kept[pc.sort_indices(by, sort_keys=[("u", "ascending"), ("t", "ascending")])
                 .to_numpy()]
    del by

    # Exact duplicates share user and time, so only rows in a (user, time) tie can be one.
    su, st = u_codes[order], ns[order]
    tie = np.zeros(len(order), dtype=bool)
    if len(order) > 1:
        same = (su[1:] == su[:-1]) & (st[1:] == st[:-1])
        tie[1:] |= same
        tie[:-1] |= same
    cand = order[tie]
    if len(cand):
        key = pd.DataFrame({"u": u_codes[cand], "t": ns[cand], "i": i_codes[cand],
                            "e": ev_codes[cand], "v": values[cand]})
        dup_mask = np.zeros(len(frame), dtype=bool)
        dup_mask[cand[key.duplicated(keep="first").to_numpy()]] = True
        drops.drop(REASON_DUPLICATE, dup_mask)

    if min_events > 1:
        counts = np.bincount(u_codes[drops.keep], minlength=len(u_names))
        few = drops.keep & (counts[np.maximum(u_codes, 0)] < min_events)
        drops.drop(reason_few_events(min_events), few)

    final = order[drops.keep[order]]
    if len(final) == 0:
        main = max(drops.counts, key=drops.counts.get)
        raise _error(
            f"No usable rows: all {rows_read:,} rows were dropped, mostly because '{main}' "
            f"({drops.counts[main]:,} rows). {_hint(main, cmap, info, min_events)}"
        )

    events = pd.DataFrame({
        "user_id": pd.Series(user_arr.take(pa.array(final)), dtype="str"),
        "item_id": pd.Series(item_arr.take(pa.array(final)), dtype="str"),
        "timestamp": pd.Series(ns[final].view("M8[ns]")).dt.tz_localize("UTC"),
        "event": _categorical(ev_codes[final], ev_names),
        "value": values[final],
    })
    event_counts = {str(k): int(v) for k, v in events["event"].value_counts().items() if v}

    items_table = None
    if items is not None:
        items_table = items if _is_item_table(items) else load_items(items)
        distinct = pd.Index(events["item_id"].unique())
        covered = int(distinct.isin(items_table["item_id"]).sum())
        notes.append(
            f"Item table: {len(items_table):,} items; {covered:,} of the {len(distinct):,} items "
            "in the events have a title."
        )

    report = ValidationReport(
        source=info["source"], file_format=info["file_format"], encoding=info["encoding"],
        delimiter=info["delimiter"], has_header=bool(info["has_header"]),
        rows_read=rows_read, rows_kept=len(events),
        dropped={k: v for k, v in drops.counts.items() if v},
        examples={k: v for k, v in drops.examples.items() if drops.counts.get(k)},
        timestamp_unit=unit,
        time_min=events["timestamp"].min(),
        time_max=events["timestamp"].max(),
        n_users=int(np.count_nonzero(np.bincount(u_codes[final], minlength=1))),
        n_items=int(np.count_nonzero(np.bincount(i_codes[final], minlength=1))),
        event_counts=event_counts, mapping=cmap, notes=notes,
    )
    return EventLog(events=events, report=report, items=items_table)


def _categorical(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    """Categorical with only the categories that occur (cheaper than remove_unused_categories)."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(names)))
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return pd.Categorical.from_codes(remap[codes], categories=[names[i] for i in used])


def _hint(reason: str, cmap: ColumnMapping | None, info: dict, min_events: int = 1) -> str:
    if reason == REASON_BAD_JSON:
        return "Check that every line is one JSON object, or save the events as CSV."
    if reason == REASON_MALFORMED:
        delim = info.get("delimiter")
        words = {"\t": "tab", None: "none"}.get(delim, f"'{delim}'")
        return (f"Check that every line has as many fields as the first line (fields were split "
                f"on {words}).")
    if reason in (REASON_NO_TIME, REASON_BAD_TIME, REASON_TIME_RANGE):
        col = cmap.timestamp if cmap else "?"
        return f"Check the time column '{col}', or choose another one (--time-col)."
    if reason == REASON_NO_USER:
        col = cmap.user if cmap else "?"
        return f"Check the user column '{col}', or choose another (--user-col)."
    if reason == REASON_NO_ITEM:
        col = cmap.item if cmap else "?"
        return f"Check the item column '{col}', or choose another (--item-col)."
    if reason.startswith("user has fewer than"):
        return f"Lower the minimum number of events per user (now {min_events})."
    return "Check the file."


def _too_many_rows(n: int, max_rows: int) -> LTSIError:
    return _error(
        f"The file has about {n:,} rows, more than the limit of {max_rows:,}. Use a sample of the "
        "file, or raise the limit (max_rows / --max-rows)."
    )


# ---------------------------------------------------------------------------------------------
# Item table


def looks_like_item_table(frame: pd.DataFrame) -> bool:
    """True for a raw frame that names an item id and a title/category but no user or time:
    a file like MovieLens movies.csv, to be read with load_items rather than load_events."""
    names = {_norm(c) for c in frame.columns}
    has_id = bool(names & set(ITEM_ID_NAMES))
    has_meta = bool(names & (set(TITLE_NAMES) | set(CATEGORY_NAMES)))
    has_user_or_time = bool(names & (set(KNOWN_NAMES["user"]) | set(KNOWN_NAMES["timestamp"])))
    return has_id and has_meta and not has_user_or_time


def _is_item_table(obj: Any) -> bool:
    return isinstance(obj, pd.DataFrame) and {"item_id", "title", "category"} <= set(obj.columns)


def load_items(source: Any, name: str | None = None) -> pd.DataFrame:
    """Item table: item_id, title, category (+ genres when the file has them), one row per item.

    Genres written 'A|B|C' give category 'A' (the first genre); the full text stays in 'genres'.
    Missing titles fall back to the item id, missing categories to 'unknown'.
    """
    frame, _info = _read_table(source, name, hint_names=(), max_rows=None)
    if len(frame) == 0:
        raise _error("The item table has no rows. Choose the file that lists the items.")
    columns = [str(c) for c in frame.columns]

    def by_name(names: list[str], taken: set[str]) -> str | None:
        ranked = sorted((names.index(_norm(c)), i, c) for i, c in enumerate(columns)
                        if c not in taken and _norm(c) in names)
        return ranked[0][2] if ranked else None

    id_col = by_name(ITEM_ID_NAMES, set())
    if id_col is None:
        id_col = next((c for c in columns if _GENERIC_RE.match(c) and _profile(frame[c])["idlike"]),
                      None)
    if id_col is None:
        raise _error(
            f"The item table has no item id column (columns: {', '.join(columns)}). Name it "
            "item_id, or put the id in the first column."
        )
    taken = {id_col}
    title_col = by_name(TITLE_NAMES, taken)
    samples = {c: frame[c].dropna().head(2000).astype("str") for c in columns
               if c not in taken and _GENERIC_RE.match(c)}
    if title_col is None and samples:
        # Without a header: the title is the column of longest text with spaces in it (a URL or
        # a date column is long too, but has no spaces or is a date).
        def title_score(c: str) -> tuple:
            text = samples[c]
            if not len(text):
                return (False, -1.0)
            wordy = text.str.contains(" ", regex=False).mean() >= 0.3
            url = text.str.startswith("http").mean() > 0.5
            return (wordy and not url, float(text.str.len().mean()))

        title_col = max(samples, key=title_score)
        samples.pop(title_col)
    if title_col:
        taken.add(title_col)
    cat_col = by_name(CATEGORY_NAMES, taken)
    if cat_col is None:
        # Without a header: genres written 'A|B', else a text column with few distinct values.
        for c, text in samples.items():
            if len(text) and text.str.contains("|", regex=False).mean() > 0.2:
                cat_col = c
                break
        for c, text in samples.items():
            # Category names are words: no digits (so not dates, codes or numbers).
            if cat_col is None and len(text) and text.str.contains(r"\d").mean() < 0.5:
                if text.nunique() <= max(50, len(text) // 10):
                    cat_col = c

    ids = pd.Series(_as_arrow_text(frame[id_col]), dtype="str")
    out = pd.DataFrame({"item_id": ids})
    out["title"] = (
        pd.Series(_as_arrow_text(frame[title_col]), dtype="str").fillna(ids) if title_col else ids
    )
    if cat_col:
        cat = pd.Series(_as_arrow_text(frame[cat_col]), dtype="str")
        if cat.str.contains("|", regex=False).any() or _norm(cat_col) in ("genres", "genre",
                                                                           "categories"):
            out["category"] = cat.str.split("|", n=1).str[0].str.strip().fillna("unknown")
            out["genres"] = cat.fillna("")
        else:
            out["category"] = cat.fillna("unknown")
    else:
        out["category"] = "unknown"
    out = out[out["item_id"].notna()].drop_duplicates("item_id", keep="first")
    for col in out.columns:
        out[col] = out[col].astype("str")
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Small helpers


def _error(message: str) -> LTSIError:
    """LTSIError on one line, even when a column or file name holds a line break."""
    return LTSIError(" ".join(message.split()))


def _base(name: str) -> str:
    return Path(str(name)).name or str(name)


def _mode(values: list[int]) -> int:
    return max(set(values), key=lambda v: (values.count(v), v)) if values else 0


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}_{seen[n]}")
        else:
            seen[n] = 1
            out.append(n)
    return out


def _plain(v: Any) -> Any:
    """A JSON-friendly version of one cell for the examples."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v if isinstance(v, (int, float, str, bool)) else str(v)


def _fmt_time(t: pd.Timestamp | None) -> str:
    return "-" if t is None else t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt_example(ex: dict) -> str:
    parts = [f"row {ex.get('row')}"]
    parts += [f"{k}={v!r}" for k, v in ex.items() if k != "row"]
    return ", ".join(parts)[:160]
