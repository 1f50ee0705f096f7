"""Which files on the server the dashboard may read: the folders the operator allows, and checks of a
path (a file, a folder or a glob) and of a SQL query against them.

The operator lists the folders in the environment variable `LTSI_DATA_FOLDERS` (separated by
`os.pathsep`, ':' on Linux); unset or empty, no file on the server can be opened from the dashboard.
A path is inside a folder after resolving '~', '..' and symbolic links, and so is every file a folder
or a glob would read (a link inside an allowed folder that points outside is refused).

A query is accepted only when it is one SELECT (or WITH ... SELECT) statement: no semicolon, no
command word (ATTACH, COPY, INSTALL, LOAD, PRAGMA, SET, ...), no file-reading function other than
`read_parquet` / `read_csv`, whose first argument must be written out as text, and every text in it
that names a file must be inside an allowed folder. The check reads the query as DuckDB does (quoted
text with doubled quotes, quoted names, -- and /* */ comments) and refuses what it could read
differently (dollar-quoted or prefixed text such as E'...', nested comments, control characters).
These checks are a first fence; the engine that runs the query should also be limited to the same
folders (DuckDB's `allowed_directories` with `enable_external_access = false`).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ltsi.errors import one_line_error

__all__ = ["ENV", "allowed_folders", "check_path", "check_sql", "enable_note"]

ENV = "LTSI_DATA_FOLDERS"
GLOB_CHARS = frozenset("*?[")
# Functions that read the files of a query (their first argument is the path or a list of paths)
FILE_READERS = frozenset({"read_parquet", "parquet_scan", "read_csv", "read_csv_auto"})
# Command words that make a statement other than a SELECT: refused anywhere outside quotes
COMMANDS = frozenset(
    {
        "alter", "analyze", "attach", "begin", "call", "checkpoint", "commit", "copy", "create", "deallocate",
        "delete", "detach", "drop", "execute", "export", "import", "insert", "install", "load", "pragma",
        "prepare", "reset", "rollback", "set", "truncate", "update", "use", "vacuum",
    }
)  # fmt: skip
# Functions that read files, run other SQL or reveal the server's settings (besides FILE_READERS)
REFUSED_FUNCTIONS = frozenset(
    {
        "glob", "query", "query_table", "getenv", "getvariable", "current_setting", "sniff_csv", "which_secret",
        "load_aws_credentials", "read_blob", "read_text",
    }
)  # fmt: skip
REFUSED_PREFIXES = ("read_", "parquet_", "duckdb_", "pragma_", "sqlite_", "postgres_", "mysql_", "iceberg_", "delta_")
REFUSED_SUFFIXES = ("_scan", "_attach", "_metadata", "_schema")
# File name endings that make a quoted text a file to DuckDB (FROM 'events.csv' reads the file)
FILE_ENDINGS = frozenset(
    {
        "csv", "tsv", "txt", "dat", "parquet", "pq", "json", "jsonl", "ndjson", "gz", "gzip", "zst", "zstd",
        "bz2", "xz", "zip", "lz4", "arrow", "feather", "ipc", "xlsx", "xls", "db", "duckdb", "sqlite", "sqlite3",
        "avro", "orc",
    }
)  # fmt: skip
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
FILE_ENDING = re.compile(r"\.([A-Za-z0-9]{1,8})$")


def enable_note() -> str:
    """How an operator allows folders (said where the server sources are hidden)."""
    return (
        f"To open files on the server, the person who runs the dashboard lists the folders it may read in the "
        f"environment variable {ENV} (separated by '{os.pathsep}') before starting it."
    )


def allowed_folders() -> tuple[Path, ...]:
    """The folders of `LTSI_DATA_FOLDERS`, resolved ('~', '..', links); () when unset or empty."""
    entries = os.environ.get(ENV, "").split(os.pathsep)
    folders = [Path(entry.strip()).expanduser().resolve() for entry in entries if entry.strip()]
    return tuple(dict.fromkeys(folders))  # once each, in the operator's order


def check_path(path: str, folders: tuple[Path, ...] | None = None) -> Path:
    """`path` (a file, a folder or a glob such as /data/logs/*.parquet) resolved, when it and every file it
    reads lie inside an allowed folder (`folders`, default `allowed_folders()`).

    Raises LTSIError with a plain message when no folder is allowed, the path is a web address, it lies
    outside the folders (also through '..' or a link), or nothing is there."""
    folders = allowed_folders() if folders is None else folders
    text = str(path).strip()
    if not folders:
        raise one_line_error(f"No folder on the server is open to the dashboard. {enable_note()}")
    if not text:
        raise one_line_error("Give the path of a file, a folder or a pattern such as /data/logs/*.parquet.")
    if URL.match(text):
        raise one_line_error(f"Only files on this server can be opened, not web addresses such as '{text}'.")
    if any(ord(ch) < 32 for ch in text):
        raise one_line_error("The path has a line break or another control character: write it on one line.")
    if not GLOB_CHARS & set(text):
        resolved = _resolved(text)
        _inside(resolved, f"'{text}'", folders)
        if not resolved.exists():
            raise one_line_error(f"There is no file or folder at '{text}'.")
        for entry, target in _entries_below(resolved):
            _inside(target, f"{entry}, which '{text}' reads,", folders)
        return resolved
    fixed, pattern = _split_glob(text)
    if ".." in Path(pattern).parts:
        raise one_line_error(f"A pattern cannot go up a folder ('..') after its first '*', '?' or '[': '{text}'.")
    base = _resolved(fixed)
    _inside(base, f"'{text}'", folders)
    matches = glob.glob(str(base / pattern), recursive=True, include_hidden=True)
    if not matches:
        raise one_line_error(f"No file matches '{text}'.")
    for match in matches:
        _inside(Path(match).resolve(), f"{match}, which '{text}' reads,", folders)
        for entry, target in _entries_below(Path(match).resolve()):
            _inside(target, f"{entry}, which '{text}' reads,", folders)
    return base / pattern


def _resolved(text: str) -> Path:
    """The path with '~' expanded (as DuckDB does) and '..' and links resolved."""
    return Path(text).expanduser().resolve()


def _inside(resolved: Path, given: str, folders: tuple[Path, ...]) -> None:
    if not any(resolved == folder or resolved.is_relative_to(folder) for folder in folders):
        shown = ", ".join(str(folder) for folder in folders)
        raise one_line_error(
            f"{given} is outside the folders the dashboard may read ({shown}), once links and '..' are "
            "followed. Choose a file inside one of them."
        )


def _split_glob(text: str) -> tuple[str, str]:
    """(the folders before the first wildcard, the rest): '/data/a/*.csv' -> ('/data/a', '*.csv')."""
    parts = Path(text).parts
    first = next(i for i, part in enumerate(parts) if GLOB_CHARS & set(part))
    fixed = str(Path(*parts[:first])) if first else "."
    return fixed, str(Path(*parts[first:]))


def _entries_below(path: Path) -> Iterator[tuple[Path, Path]]:
    """(entry, where it leads) for every file and folder below `path` (a folder), links included but not
    followed (a link to a folder outside is itself outside); nothing for a file."""
    if not path.is_dir():
        return
    for folder, dirs, files in os.walk(path, followlinks=False):
        for name in (*dirs, *files):
            entry = Path(folder) / name
            yield entry, entry.resolve()


# ---------------------------------------------------------------------------------------------
# SQL


@dataclass(frozen=True)
class Token:
    kind: str  # "word" | "text" ('...') | "name" ("...") | "symbol" | "number"
    value: str  # words lower-cased; text and names without their quotes, doubled quotes made single


def check_sql(sql: str, folders: tuple[Path, ...] | None = None) -> tuple[Path, ...]:
    """The files a query reads (resolved), when it is one SELECT / WITH statement that reads only files inside
    the allowed folders (see the module docstring). Raises LTSIError that says what is refused."""
    folders = allowed_folders() if folders is None else folders
    if not folders:
        raise one_line_error(f"No folder on the server is open to the dashboard. {enable_note()}")
    tokens = tokenize(sql)
    if tokens and tokens[-1] == Token("symbol", ";"):  # one closing semicolon is a habit, not a second statement
        tokens = tokens[:-1]
    if not tokens:
        raise one_line_error("The query is empty: write one SELECT statement.")
    if Token("symbol", ";") in tokens:
        raise one_line_error("Only one statement is accepted: remove the semicolons (';') between statements.")
    if tokens[0] not in (Token("word", "select"), Token("word", "with")):
        raise one_line_error("Only a query that starts with SELECT or WITH is accepted.")
    for i, token in enumerate(tokens):
        if token.kind == "word" and token.value in COMMANDS:
            raise one_line_error(
                f"Only a SELECT query is accepted: the command {token.value.upper()} is not. (A column of that "
                f'name is written in double quotes: "{token.value}".)'
            )
        called = i + 1 < len(tokens) and tokens[i + 1] == Token("symbol", "(")
        if token.kind == "name" and called:  # "read_text"('...') calls the function too
            raise one_line_error(f'Write function names without quotes: "{token.value}"( is not accepted.')
        if token.kind == "word" and called and refused_function(token.value):
            raise one_line_error(
                f"The function {token.value} is not accepted in a query here: read the files with read_parquet('...') "
                "or read_csv('...')."
            )
    paths = [*reader_paths(tokens), *(t.value for t in tokens if t.kind in ("text", "name") and names_a_file(t.value))]
    checked = [check_path(path, folders) for path in dict.fromkeys(paths)]
    return tuple(dict.fromkeys(checked))


def refused_function(name: str) -> bool:
    """Whether a function may read files, run other SQL or reveal settings (and is not an accepted reader)."""
    if name in FILE_READERS:
        return False
    return name in REFUSED_FUNCTIONS or name.startswith(REFUSED_PREFIXES) or name.endswith(REFUSED_SUFFIXES)


def names_a_file(text: str) -> bool:
    """Whether a quoted text would be read as a file (or is meant as one): it has a folder separator, a
    wildcard, '~', a web address or a data file's ending (DuckDB reads FROM 'events.csv' as that file)."""
    if not text.strip():
        return False
    ending = FILE_ENDING.search(text.strip())
    return (
        "/" in text
        or "\\" in text
        or text.strip().startswith("~")
        or bool(GLOB_CHARS & set(text))
        or bool(URL.match(text.strip()))
        or (ending is not None and ending.group(1).lower() in FILE_ENDINGS)
    )


def reader_paths(tokens: list[Token]) -> list[str]:
    """The paths given to the file readers: read_parquet('a') or read_parquet(['a', 'b']). Any other first
    argument (a column, a sub-query, text put together) is refused: the path must be written out."""
    paths = []
    for i, token in enumerate(tokens):
        if token.kind != "word" or token.value not in FILE_READERS or tokens[i + 1 : i + 2] != [Token("symbol", "(")]:
            continue
        rest = tokens[i + 2 :]
        if rest[:1] and rest[0].kind == "text" and (rest[1:2] in ([Token("symbol", ")")], [Token("symbol", ",")])):
            paths.append(rest[0].value)
            continue
        listed = _listed_texts(rest)
        if listed is None:
            raise one_line_error(
                f"Give {token.value} the file as quoted text, e.g. {token.value}('/data/events/*.parquet'), or a "
                "list of them in [ ]."
            )
        paths.extend(listed)
    return paths


def _listed_texts(tokens: list[Token]) -> list[str] | None:
    """The texts of "['a', 'b'] )" or "['a'] ," at the start of `tokens`; None when it is anything else."""
    if tokens[:1] != [Token("symbol", "[")]:
        return None
    texts = []
    for position, token in enumerate(tokens[1:], start=1):
        if position % 2 == 1:
            if token.kind != "text":
                return None
            texts.append(token.value)
        elif token == Token("symbol", "]"):
            follows = tokens[position + 1 : position + 2]
            return texts if follows in ([Token("symbol", ")")], [Token("symbol", ",")]) else None
        elif token != Token("symbol", ","):
            return None
    return None


WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?|\.[0-9]+")


def tokenize(sql: str) -> list[Token]:
    """The query as tokens (comments dropped). Raises LTSIError for what DuckDB might read otherwise than this
    function: unclosed quotes or comments, nested comments, $-quoting, prefixed text (E'..'), control
    characters, and any character outside plain SQL."""
    tokens: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in " \t\r\n":
            i += 1
        elif sql.startswith("--", i):  # to the end of the line: DuckDB ends it at \n or \r
            ends = [end for end in (sql.find("\n", i), sql.find("\r", i)) if end >= 0]
            i = min(ends) + 1 if ends else n
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise one_line_error("A comment opened with /* is not closed with */.")
            if "/*" in sql[i + 2 : end]:
                raise one_line_error("Comments inside comments are not accepted: remove the inner /*.")
            i = end + 2
        elif ch in "'\"":
            value, i = _quoted(sql, i)
            tokens.append(Token("text" if ch == "'" else "name", value))
        elif WORD.match(sql, i):
            word = WORD.match(sql, i).group(0)
            end = i + len(word)
            if end < n and sql[end] in "'\"":
                raise one_line_error(
                    f"Text written right after a word ({word}{sql[end]}...) is not accepted: put a space before "
                    "the quote, or write the text plainly."
                )
            tokens.append(Token("word", word.lower()))
            i = end
        elif NUMBER.match(sql, i):
            number = NUMBER.match(sql, i).group(0)
            tokens.append(Token("number", number))
            i += len(number)
        elif ch in "(),.[]*+-/%<>=!|:&~^{}":
            tokens.append(Token("symbol", ch))
            i += 1
        elif ch == ";":
            tokens.append(Token("symbol", ";"))
            i += 1
        elif ch == "$":
            raise one_line_error("The character '$' is not accepted in a query here (no $-quoted text or parameters).")
        elif ord(ch) < 32 or ch == "\x7f":
            raise one_line_error("The query has a control character: remove it.")
        else:
            raise one_line_error(
                f"The character {ch!r} is not accepted in a query outside quotes (write such names in double quotes)."
            )
    return tokens


def _quoted(sql: str, start: int) -> tuple[str, int]:
    """(the text between the quotes at `start`, with doubled quotes made single; the index after it)."""
    quote = sql[start]
    parts, i = [], start + 1
    while True:
        end = sql.find(quote, i)
        if end < 0:
            what = "text" if quote == "'" else "name"
            raise one_line_error(f"A quoted {what} is not closed: add the closing {quote}.")
        parts.append(sql[i:end])
        if sql.startswith(quote * 2, end):
            parts.append(quote)
            i = end + 2
            continue
        value = "".join(parts)
        if any(ord(ch) < 32 for ch in value):
            raise one_line_error("A quoted text in the query has a line break or control character: remove it.")
        return value, end + 1
