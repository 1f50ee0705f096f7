"""Bytes or a path -> a raw table, and a `ReadInfo` of how it was read (format, delimiter, header, bad lines).

The path is linear: source -> bytes -> unwrap archives -> reject non-tables -> decode to UTF-8
(those steps are `ltsi.sources`) -> parse. CSV-like files come back with every column as text
(conversion is `load_events`' job); Parquet and JSON keep their own types. Lines that cannot be
read are counted in `ReadInfo`, never hidden.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ltsi.column_names import ALL_KNOWN, norm_name
from ltsi.errors import LTSIError, one_line_error
from ltsi.sources import (
    SAMPLE_BYTES,
    base_name,
    decode_to_utf8,
    reject_non_tabular,
    source_bytes,
    too_many_rows,
    unwrap_archives,
)
from ltsi.times import DATE_RE, NUMBER_RE, looks_iso

# Reasons a line is dropped before it becomes a row (keys of ValidationReport.dropped).
REASON_MALFORMED = "line has the wrong number of fields"
REASON_BAD_JSON = "line is not valid JSON"
MAX_EXAMPLES = 5

NULL_STRINGS = [
    "",
    "null",
    "NULL",
    "Null",
    "None",
    "none",
    "NaN",
    "nan",
    "NA",
    "N/A",
    "n/a",
    "#N/A",
]
SNIFF_LINES = 200


@dataclass
class ReadInfo:
    """What the reader found out about a file, and what it could not read."""

    source: str  # the file name, or "upload" / "text" / "DataFrame"
    format: str = ""  # csv, tsv, movielens-dat, json, jsonl, parquet or dataframe
    compression: list[str] = field(default_factory=list)  # layers undone, outside first: "gzip", "zip: a.csv"
    encoding: str = "n/a"  # how text was decoded: utf-8, utf-8 with BOM, utf-16, cp1252, cp1251, ...
    delimiter: str | None = None  # None for Parquet/JSON; "::" for MovieLens .dat
    has_header: bool = True
    rows_read: int = 0  # rows in the table + malformed lines
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # source line of each row
    malformed: int = 0  # lines that could not be read (wrong number of fields, bad JSON)
    malformed_reason: str = REASON_MALFORMED
    malformed_examples: list[dict] = field(default_factory=list)  # at most MAX_EXAMPLES
    blank_lines: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def file_format(self) -> str:
        """The format as the report shows it: 'csv (zip: events.csv.gz, gzip)'."""
        return f"{self.format} ({', '.join(self.compression)})" if self.compression else self.format

    def __getitem__(self, key: str) -> Any:
        """`info["delimiter"]` still works for code written when this was a dict."""
        if key not in _INFO_KEYS:
            raise KeyError(key)
        return getattr(self, key)


_INFO_KEYS = {
    "source",
    "file_format",
    "encoding",
    "delimiter",
    "has_header",
    "malformed",
    "malformed_reason",
    "malformed_examples",
    "blank_lines",
    "lines",
    "notes",
    "format",
    "compression",
    "rows_read",
}


def read_table(
    source: Any, name: str | None = None, *, hint_names: tuple[str, ...] = (), max_rows: int | None = None
) -> tuple[pd.DataFrame, ReadInfo]:
    """Read a CSV/TSV/.dat/JSON-lines/Parquet file (optionally gzip/zip/bz2/xz) into a raw frame.

    `source` is a path, bytes, a file-like object, text with a line break, or a DataFrame.
    `hint_names` (the caller's column names) help decide whether the first line is a header;
    `max_rows` refuses a file with more rows before it is parsed.
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        frame.columns = unique_names([str(c) for c in frame.columns])
        info = ReadInfo(name or "DataFrame", "dataframe")
        info.lines = np.arange(1, len(frame) + 1, dtype=np.int64)
        info.rows_read = len(frame)
        return frame, info

    data, name = source_bytes(source, name)
    info = ReadInfo(name)
    data, info.compression = unwrap_archives(data, name, info.notes, max_rows=max_rows)
    reject_non_tabular(data, name)

    if data[:4] == b"PAR1":
        frame = _read_parquet(data, max_rows, info.notes)
        info.format = "parquet"
        info.lines = np.arange(1, len(frame) + 1, dtype=np.int64)
    else:
        data, info.encoding = decode_to_utf8(data, info.notes)
        head = data[:SAMPLE_BYTES].lstrip()
        if head[:1] in (b"{", b"["):
            frame = _read_json(data, info)
        else:
            frame = _read_delimited(data, info, hint_names, max_rows)
    info.rows_read = len(frame) + info.malformed
    return frame, info


def unique_names(names: list[str]) -> list[str]:
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


# ---------------------------------------------------------------------------------------------
# Formats


def _read_parquet(data: bytes, max_rows: int | None, notes: list[str]) -> pd.DataFrame:
    try:
        pfile = pq.ParquetFile(pa.BufferReader(data))
        if max_rows is not None and pfile.metadata.num_rows > max_rows:
            raise too_many_rows(pfile.metadata.num_rows, max_rows)
        table = pfile.read()
    except LTSIError:
        raise
    except Exception:
        raise one_line_error(
            "The file looks like Parquet but could not be read (it may be damaged or cut short). "
            "Export it again, or save the events as CSV."
        ) from None
    for i, column in enumerate(table.schema):  # binary columns: text in bytes is fine, anything else is refused
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            try:
                table = table.set_column(i, column.name, table.column(i).cast(pa.string()))
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                raise one_line_error(
                    f"The Parquet column '{column.name}' holds binary values that are not text. Store ids as text "
                    "or numbers, or save the events as CSV."
                ) from None
    nested = [c.name for c in table.schema if pa.types.is_nested(c.type)]
    if nested:  # lists, structs, maps: one value per row is expected, so say how they are read
        notes.append(
            f"The Parquet column{'s' if len(nested) > 1 else ''} {', '.join(repr(n) for n in nested)} "
            f"hold{'' if len(nested) > 1 else 's'} lists or records, not single values; each is read as its text "
            "(for example '[0, 3]'). Store one id or value per row for ids to match across rows."
        )
    frame = table.to_pandas()
    frame.columns = unique_names([str(c) for c in frame.columns])
    return frame


def _read_json(data: bytes, info: ReadInfo) -> pd.DataFrame:
    """JSON lines (one object per line) or one JSON array of objects."""
    lines_format = data.lstrip()[:1] == b"{"
    info.format = "jsonl" if lines_format else "json"
    info.delimiter = None
    try:
        frame = pd.read_json(io.BytesIO(data), lines=lines_format, dtype=False)
        info.lines = np.arange(1, len(frame) + 1, dtype=np.int64)
    except Exception:  # pandas raises ValueError or TypeError for a bad line
        if not lines_format:
            raise one_line_error(
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
            except (ValueError, RecursionError):  # RecursionError: a line nested too deeply to be a record
                info.malformed += 1
                info.malformed_reason = REASON_BAD_JSON
                if len(info.malformed_examples) < MAX_EXAMPLES:
                    info.malformed_examples.append({"row": number, "text": raw.decode("utf-8", "replace")[:200]})
                continue
            records.append(obj)
            lines.append(number)
        frame = pd.DataFrame.from_records(records)
        info.lines = np.asarray(lines, dtype=np.int64)
    if isinstance(frame, pd.Series) or frame.shape[1] == 0:
        if info.malformed:
            return pd.DataFrame()
        raise one_line_error("The JSON file holds no records with named fields; save it as CSV.")
    frame.columns = unique_names([str(c) for c in frame.columns])
    return frame


def _read_delimited(data: bytes, info: ReadInfo, hint_names: tuple[str, ...], max_rows: int | None) -> pd.DataFrame:
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
        raise one_line_error(f"{base_name(info.source)} contains no data. Choose the file with the events.")

    if sum("::" in ln for ln in lines) >= 0.8 * len(lines):
        delimiter = "::"
        rows = [ln.split("::") for ln in lines]
        info.format = "movielens-dat"
    else:
        delimiter = _sniff_delimiter(lines)
        if delimiter is None:
            raise one_line_error(
                "Only one column was found: the file does not use comma, semicolon, tab or '|' "
                "between fields. Save it as CSV (comma-separated) and try again."
            )
        rows = list(csv.reader(lines, delimiter=delimiter))
        info.format = "tsv" if delimiter == "\t" else "csv"
    info.delimiter = delimiter

    has_header = _looks_like_header(rows, hint_names)
    info.has_header = has_header
    data_rows = rows[1:] if has_header else rows
    width = _mode([len(r) for r in data_rows]) if data_rows else len(rows[0])
    if has_header:
        names = [c.strip() for c in rows[0]]
        while len(names) > width and not names[-1]:
            names.pop()  # a trailing delimiter on the header line only
        if len(names) < width:
            info.notes.append(
                f"The header names {len(names)} columns but the lines have {width} fields; "
                "the extra fields were named by position."
            )
        names += [f"column_{i + 1}" for i in range(len(names), width)]
        names = [n or f"column_{i + 1}" for i, n in enumerate(names)]
    else:
        names = [f"column_{i + 1}" for i in range(width)]
    names = unique_names(names)

    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1) - int(has_header)
    if max_rows is not None and n_lines > max_rows * 1.05 + 10:
        raise too_many_rows(n_lines, max_rows)  # cheap early refusal before parsing
    # (1.05: quoted values may hold line breaks, so lines can slightly outnumber rows)
    if has_header and not data_rows and len(data.strip().splitlines()) <= 1:
        raise one_line_error(
            f"The file has only a header row ({', '.join(names)}) and no data rows. Add the events below the header."
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
            info.notes.append("Quote marks do not pair up in this file, so they were read as plain characters.")
    has_nul = b"\x00" in data  # past the first 64 KiB (earlier ones refuse the file as binary)
    del data
    frame = parsed.table.to_pandas()
    del parsed.table
    bad_numbers = parsed.bad
    info.malformed_examples = [
        {**ex, "row": None if ex["row"] is None else ex["row"] + offset} for ex in parsed.examples
    ]
    if parsed.blank:
        info.blank_lines += len(parsed.blank)

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
        info.blank_lines += int(blank.sum())
        frame = frame.loc[~blank].reset_index(drop=True)
        lines_arr = lines_arr[~blank]
    if info.blank_lines:
        n = info.blank_lines
        info.notes.append(f"{n:,} empty line{'s were' if n != 1 else ' was'} skipped.")
    info.lines = lines_arr + offset
    if has_nul:
        _replace_nul(frame, info)
    info.malformed = len(bad_numbers)
    if has_header and len(frame) == 0 and not bad_numbers:
        raise one_line_error(
            f"The file has only a header row ({', '.join(names)}) and no data rows. Add the events below the header."
        )
    return frame


def _replace_nul(frame: pd.DataFrame, info: ReadInfo) -> None:
    """NUL characters inside values (a damaged or binary export) become U+FFFD, so they are visible, keep ids
    distinct, and are said in a note with the column and an example line."""
    for column in frame.columns:
        values = frame[column]
        hit = values.str.contains("\x00", regex=False, na=False).to_numpy()
        if hit.any():
            frame[column] = values.str.replace("\x00", "\ufffd", regex=False)
            info.notes.append(
                f"{int(hit.sum()):,} value{'s' if hit.sum() > 1 else ''} in column '{column}' contained NUL characters "
                f"(a sign of a damaged file; first at line {int(info.lines[np.argmax(hit)]):,}); they are shown "
                "as \ufffd. Check the file if ids look wrong."
            )


@dataclass
class _Parsed:
    table: pa.Table
    rows: int  # rows parsed + rows skipped, i.e. lines seen after the header
    bad: list[int]  # line numbers of lines with the wrong number of fields (-1 if unknown)
    blank: list[int]  # line numbers of lines with only spaces
    examples: list[dict]


def _parse_csv(data: bytes, delimiter: str, names: list[str], has_header: bool, quoting: bool) -> _Parsed:
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
                examples.append(
                    {
                        "row": row.number,
                        "text": row.text.replace("\x1f", "::")[:200],
                        "fields": row.actual_columns,
                        "expected": row.expected_columns,
                    }
                )
        return "skip"

    sep = "\x1f" if delimiter == "::" else delimiter
    parse = pacsv.ParseOptions(
        delimiter=sep, quote_char='"' if quoting else False, invalid_row_handler=on_invalid, ignore_empty_lines=False
    )
    # Single-threaded on purpose: only then does pyarrow report the line number of bad rows.
    read = pacsv.ReadOptions(use_threads=False, block_size=1 << 23, column_names=names, skip_rows=int(has_header))
    convert = pacsv.ConvertOptions(
        default_column_type=pa.string(),
        strings_can_be_null=True,
        null_values=NULL_STRINGS,
        quoted_strings_can_be_null=True,
    )
    try:
        table = pacsv.read_csv(io.BytesIO(data), read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        first = str(exc).splitlines()[0][:160]
        raise one_line_error(
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
        return bool(NUMBER_RE.match(v) or DATE_RE.match(v) or looks_iso(v))

    any_data = any(is_data(v) for v in first if v)
    # 1. known column names (and nothing that looks like a value)
    if not any_data and any(norm_name(v) in ALL_KNOWN for v in first):
        return True
    # 2. the caller's mapping names the columns of the first line
    hints = [h for h in hint_names if h]
    if hints and not any_data and all(h in first or norm_name(h) in map(norm_name, first) for h in hints):
        return True
    # 3. a column is numbers / dates below a first value that is not
    for j, head in enumerate(first):
        values = [r[j].strip() for r in below if len(r) > j and r[j].strip()]
        if not values or not head or is_data(head):
            continue
        numeric = sum(bool(NUMBER_RE.match(v)) for v in values) / len(values)
        dates = sum(bool(DATE_RE.match(v) or looks_iso(v)) for v in values) / len(values)
        if numeric >= 0.8 or dates >= 0.8:
            return True
    # 4. a first line with a number or date in it is data; an all-text one is taken as names
    return not any_data


def _mode(values: list[int]) -> int:
    return max(set(values), key=lambda v: (values.count(v), v)) if values else 0
