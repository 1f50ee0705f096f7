"""Any source (a path, an upload, bytes) -> the file's plain bytes: archives undone, non-tables refused, UTF-8.

The first steps of reading, in order: source -> bytes -> unwrap archives -> reject non-tables ->
decode to UTF-8. Compression and file types are recognised by their first bytes, never by the
file name (upload names lie); a legacy encoding is recognised from the content.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import re
import zipfile
from pathlib import Path
from typing import Any

from charset_normalizer import CharsetMatch, from_bytes

from ltsi.errors import LTSIError, one_line_error

SAMPLE_BYTES = 1 << 16  # how much of a file the sniffing looks at


def base_name(name: str) -> str:
    return Path(str(name)).name or str(name)


# ---------------------------------------------------------------------------------------------
# Source -> bytes -> unwrapped, checked bytes


def source_bytes(source: Any, name: str | None) -> tuple[bytes, str]:
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
            raise one_line_error(f"File not found: {path}. Check the path and try again.")
        if path.is_dir():
            raise one_line_error(f"{path} is a folder, not a file. Give the path of the data file.")
        try:
            return path.read_bytes(), name or str(path)
        except OSError as exc:
            raise one_line_error(f"Could not open {path} ({exc.strerror}). Check the file's permissions.") from exc
    raise one_line_error(f"Cannot read events from a {type(source).__name__}; give a file path, bytes or a DataFrame.")


# Decompression bombs: a few KB that expand to many GB. Every layer is expanded in chunks and refused as soon as
# it passes MAX_EXPANDED_BYTES. The default fits the loader's row limit (50,000,000 rows, `max_rows`) at about
# 40 bytes a row: a log that expands further would be refused for its rows anyway, after using far more memory.
MAX_EXPANDED_BYTES = 2 << 30
MAX_NESTING = 3  # archives inside archives (zip > zip > csv.gz is 3); deeper is refused
MAX_JSON_BYTES = 64 << 20  # a run's config.json / metrics.json: a few KB in practice (read by ltsi.runs)
_CHUNK = 1 << 20
_HOLD_BYTES = 256 << 20  # past this much output, count first (no copy kept), then expand once more for real


def size_words(n: int) -> str:
    """2 GB, 64 MB, 512 KB: sizes in the messages."""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def too_big_error(name: str, limit: int) -> LTSIError:
    return one_line_error(
        f"{base_name(name)} expands to more than {size_words(limit)}: it looks like a decompression bomb, or a log "
        "too big for the dashboard; use the command line on a sample."
    )


def too_many_rows(n: int, max_rows: int) -> LTSIError:
    return one_line_error(
        f"The file has about {n:,} rows, more than the limit of {max_rows:,}. Use a sample of the "
        "file, or raise the limit (max_rows / --max-rows)."
    )


def unwrap_archives(
    data: bytes,
    name: str,
    notes: list[str],
    *,
    max_expanded: int | None = None,
    max_nesting: int | None = None,
    max_rows: int | None = None,
) -> tuple[bytes, list[str]]:
    """Undo gzip / zip / bz2 / xz by their magic bytes (not the extension), also nested.

    Each layer may expand to at most `max_expanded` bytes (default: the module's MAX_EXPANDED_BYTES, read at call
    time) and at most `max_nesting` layers (MAX_NESTING) are undone; beyond either, LTSIError with a plain message.
    With `max_rows`, a text layer is refused while it expands, as soon as it has clearly more lines than that
    (a log of short rows is refused for its rows without first holding gigabytes of them).
    """
    limit = MAX_EXPANDED_BYTES if max_expanded is None else max_expanded
    depth = MAX_NESTING if max_nesting is None else max_nesting
    done: list[str] = []
    while True:
        kind = _archive_kind(data)
        if kind is None:
            break
        if len(done) >= depth:
            raise one_line_error(
                f"{base_name(name)} holds compressed files nested more than {depth} deep; unpack it and upload the "
                "data file itself."
            )
        try:
            if kind == "zip":
                data, member = _unzip(data, name, notes, limit, max_rows)
                done.append(f"zip: {member}")
            else:
                opener = _OPENERS[kind]
                data = _expand(lambda packed=data: opener(io.BytesIO(packed)), name, limit, max_rows)
                done.append(kind)
        except LTSIError:
            raise
        except MemoryError:
            raise one_line_error(
                f"There is not enough memory to expand {base_name(name)}; use the command line on a machine with "
                "more memory, or a sample of the log."
            ) from None
        except Exception:  # zlib.error, BadZipFile, EOFError, LZMAError, CRC errors ...
            raise one_line_error(
                f"{base_name(name)} is a compressed file that is damaged or cut short; download or export it again."
            ) from None
    return data, done


_OPENERS = {
    "gzip": lambda f: gzip.GzipFile(fileobj=f, mode="rb"),
    "bz2": lambda f: bz2.BZ2File(f, mode="rb"),
    "xz": lambda f: lzma.LZMAFile(f, mode="rb"),
}


def _archive_kind(data: bytes) -> str | None:
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:3] == b"BZh" and data[3:4].isdigit():
        return "bz2"
    if data[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    return None


def _expand(open_stream, name: str, limit: int, max_rows: int | None = None) -> bytes:
    """The bytes of a decompressing stream (`open_stream()` gives a fresh one), read in chunks and refused as
    soon as they pass `limit` (or, for text, `max_rows` lines with 5% slack for line breaks inside quotes). Sizes
    in headers are never trusted: what is counted is what comes out. Above _HOLD_BYTES the chunks are dropped and
    only counted, so a bomb is refused without holding its output; a large file under the limit is then expanded
    a second time, straight into one buffer of the counted size."""
    parts: list[bytes] = []
    total = lines = 0
    keep = True
    count_lines: bool | None = None if max_rows is not None else False  # decided on the first chunk
    with open_stream() as stream:
        while chunk := stream.read(_CHUNK):
            total += len(chunk)
            if total > limit:
                raise too_big_error(name, limit)
            if count_lines is None:  # another archive or Parquet inside: its bytes are not lines
                count_lines = _archive_kind(chunk) is None and chunk[:4] != b"PAR1"
            if total == len(chunk) and _archive_kind(chunk) is None:
                reject_binary(chunk, name)  # the content is known by its first chunk: no need to expand the rest
            if count_lines:
                lines += chunk.count(b"\n")
                if lines > max_rows * 1.05 + 10:
                    raise too_many_rows(lines, max_rows)
            if keep:
                parts.append(chunk)
                if total > _HOLD_BYTES:
                    parts, keep = [], False
    if keep:
        return b"".join(parts)
    out = bytearray(total)  # known to fit the limit now: one buffer, no list of chunks to join
    view = memoryview(out)
    done = 0
    with open_stream() as stream:
        while done < total and (n := stream.readinto(view[done : done + _CHUNK])):  # (whole: a second copy)
            done += n
    view.release()
    if done != total:
        raise one_line_error(f"{base_name(name)} changed while it was read; read it again.")
    return out  # a bytearray (reads like bytes): bytes(out) would copy the gigabytes once more


def _unzip(
    data: bytes, name: str, notes: list[str], limit: int = MAX_EXPANDED_BYTES, max_rows: int | None = None
) -> tuple[bytes, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        if any(n.startswith("xl/") for n in names):
            raise _excel_error(name)
        if any(n.startswith("word/") or n.startswith("ppt/") for n in names) or "mimetype" in names:
            raise one_line_error(
                f"{base_name(name)} is an office document, not a data table. Save the table as CSV and upload that."
            )
        members = [
            i
            for i in zf.infolist()
            if not i.is_dir()
            and not i.filename.startswith("__MACOSX/")
            and not base_name(i.filename).startswith((".", "~$"))
        ]
        if not members:
            raise one_line_error(f"The archive {base_name(name)} is empty; put the data file inside it.")

        def preference(i: zipfile.ZipInfo) -> tuple:
            low = i.filename.lower()
            data_ext = low.endswith(
                (
                    ".csv",
                    ".tsv",
                    ".txt",
                    ".dat",
                    ".data",
                    ".parquet",
                    ".json",
                    ".jsonl",
                    ".ndjson",
                    ".gz",
                    ".zip",
                    ".xlsx",
                    ".xls",
                )
            )
            keyword = any(
                k in low
                for k in ("rating", "event", "click", "interaction", "listen", "review", "log", "behavior", "u.data")
            )
            return (data_ext, keyword, i.file_size)

        chosen = max(members, key=preference)
        if len(members) > 1:
            others = [m.filename for m in members if m is not chosen][:8]
            notes.append(
                f"The archive holds {len(members)} files; read '{chosen.filename}' (not read: {', '.join(others)})."
            )
        return _expand(lambda: zf.open(chosen), name, limit, max_rows), chosen.filename


def _excel_error(name: str) -> LTSIError:
    return one_line_error(
        f"{base_name(name)} is an Excel workbook, which cannot be read directly. Open it in Excel "
        "and save it as CSV (File > Save As > CSV UTF-8), then use the CSV file."
    )


def reject_non_tabular(data: bytes, name: str) -> None:
    """Empty, binary and other non-table files get a plain explanation instead of a parse error."""
    if not data[:SAMPLE_BYTES].strip() and not data.strip():  # strip only if the head is blank
        what = "empty (0 bytes)" if not data else "empty (only blank space)"
        raise one_line_error(f"{base_name(name)} is {what}. Choose the file that contains the events.")
    reject_binary(data, name)


def reject_binary(head: bytes, name: str) -> None:
    """Images, programs, documents and other binary files, told by their first SAMPLE_BYTES (`head` may be just
    those: an archive's content is checked on its first expanded chunk, before the rest is expanded)."""
    data = head
    magic = {
        b"\x89PNG": "a PNG image",
        b"\xff\xd8\xff": "a JPEG image",
        b"GIF8": "a GIF image",
        b"%PDF": "a PDF document",
        b"7z\xbc\xaf": "a 7-Zip archive",
        b"Rar!": "a RAR archive",
        b"SQLite format 3": "an SQLite database",
        b"\x7fELF": "a program",
        b"MZ": "a Windows program",
    }
    for prefix, what in magic.items():
        if data.startswith(prefix):
            raise one_line_error(
                f"{base_name(name)} is {what}, not a data table. Upload the events as CSV, TSV, Parquet or JSON lines."
            )
    if data[:4] == b"RIFF" and data[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        raise one_line_error(f"{base_name(name)} is an image or media file, not a data table; upload a CSV.")
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise _excel_error(name)
    start = data[:512].lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html", b"<?xml")):
        raise one_line_error(
            f"{base_name(name)} is a web page or XML document, not a data table. If you downloaded "
            "it, the download probably failed; get the CSV file itself."
        )
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or data[:4] == b"PAR1":
        return  # UTF-16 text and Parquet have NUL bytes by design
    if b"\x00" in data[:SAMPLE_BYTES]:
        raise one_line_error(
            f"{base_name(name)} looks like a binary file, not text (it contains NUL bytes). "
            "Save the events as CSV and try again."
        )


# ---------------------------------------------------------------------------------------------
# Encoding

# The legacy encodings data files are exported in, for charset-normalizer to choose from, most
# common first, with the words the report uses. Left to itself it prefers rare code pages
# (mac_cyrillic, cp775) that score a little better on a short sample.
_LATIN_SCRIPT = {
    "cp1252": "Western European",
    "latin_1": "Western European",
    "iso8859_15": "Western European",
    "cp1250": "Central European",
    "iso8859_2": "Central European",
    "cp1254": "Turkish",
    "cp1257": "Baltic",
    "cp1258": "Vietnamese",
}
_OTHER_SCRIPTS = {
    "gb18030": "Chinese",
    "cp1251": "Cyrillic",
    "cp932": "Japanese",
    "cp949": "Korean",
    "big5": "Chinese",
    "cp1253": "Greek",
    "cp1256": "Arabic",
    "cp1255": "Hebrew",
    "koi8_r": "Cyrillic",
    "cp874": "Thai",
    "euc_jp": "Japanese",
    "koi8_u": "Cyrillic",
    "iso8859_5": "Cyrillic",
    "iso8859_7": "Greek",
}
_WESTERN = {"cp1252", "latin_1", "iso8859_15"}
_NEAR_TIE = 0.04  # charset-normalizer "chaos" scores this close are a tie, settled by the order above
_WESTERN_MESS = 0.25  # Western text read as Western scores up to ~0.13; Czech read as cp1252 ~0.5
_MIN_EVIDENCE = 8  # fewer non-ASCII bytes than this never overrule the Western fallback
_HIGH_BYTES = bytes(range(0x80, 0x100))
_ASCII_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def decode_to_utf8(data: bytes, notes: list[str]) -> tuple[bytes, str]:
    """Return UTF-8 bytes and the encoding we found; a legacy encoding is reported in the notes."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        label = "utf-8 with BOM"
    elif data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        notes.append("The file is UTF-16 text (as Excel writes 'Unicode text'); it was converted.")
        if len(data) % 2:  # a cut-off download: half a character at the end
            data = data[:-1]
            notes.append("Its last byte was half a character (the file looks cut short); it was left out.")
        return data.decode("utf-16", errors="replace").encode("utf-8"), "utf-16"
    else:
        label = "utf-8"
    if data.isascii():
        return data, label
    bad_at = _first_invalid_utf8(data)
    if bad_at is None:
        return data, label
    found = _other_encoding(data, bad_at)
    if found is not None:
        guess, text = found
        notes.append(
            f"The file is not valid UTF-8 (first problem at byte {bad_at:,}); its content reads as "
            f"{guess} ({_OTHER_SCRIPTS.get(guess) or _LATIN_SCRIPT[guess]}), so it was read that "
            "way. If letters look wrong, save it as UTF-8."
        )
        return text.encode("utf-8"), guess
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
            decoder.decode(data[start : start + step], final=start + step >= len(data))
        except UnicodeDecodeError as exc:
            return start + exc.start
    return None


def _other_encoding(data: bytes, bad_at: int) -> tuple[str, str] | None:
    """The legacy encoding and text charset-normalizer finds from the first non-UTF-8 line on, or
    None when a Western European reading (the cp1252 / latin-1 fallback) is about as clean."""
    start = data.rfind(b"\n", 0, bad_at) + 1
    sample = data[start : start + SAMPLE_BYTES]
    if start + SAMPLE_BYTES < len(data) and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n")]  # no character cut in half at the end
    # In Latin-script words accented letters are a minority; where most letters of the words
    # with bytes above 0x7F are such bytes, the script is another one (Cyrillic, Greek, CJK ...).
    words = b"".join(w for w in re.split(rb"[\s,;|\"']+", sample) if not w.isascii())
    high = len(words) - len(words.translate(None, _HIGH_BYTES))
    letters = len(words) - len(words.translate(None, _ASCII_LETTERS))
    other_script = high > 0.6 * (high + letters)
    if high < _MIN_EVIDENCE:
        return None  # a word or two ('Þór', '€'): too little to overrule the Western fallback
    if not other_script:
        # On short samples charset-normalizer's scores do not tell Western from Central European
        # or Baltic text, so the Western fallback stays unless it reads as a clear mess that way.
        western = from_bytes(sample, cp_isolation=[*_WESTERN], threshold=1.0).best()
        if western is not None and western.chaos <= _WESTERN_MESS:
            return None
    order = [e for e in (_OTHER_SCRIPTS if other_script else _LATIN_SCRIPT | _OTHER_SCRIPTS) if e not in _WESTERN]
    matches = list(from_bytes(sample, cp_isolation=order))  # best first

    def rank(match: CharsetMatch) -> int:  # a match stands for every encoding that reads the sample the same
        return min((order.index(e) for e in match.could_be_from_charset if e in order), default=len(order))

    near = [m for m in matches if m.chaos <= matches[0].chaos + _NEAR_TIE]
    if near:  # among near ties, a clearly better language fit (coherence) first, then the order
        top = max(m.coherence for m in near)
        near = sorted((m for m in near if m.coherence >= top - 0.1), key=rank)
    rest = [m for m in matches if not any(m is n for n in near)]
    for match in (near + rest)[:3]:  # each try decodes the whole file; a few are enough
        try:
            return match.encoding, data.decode(match.encoding)  # the whole file, not only the sample
        except (UnicodeDecodeError, LookupError):
            continue
    return None
