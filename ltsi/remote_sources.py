"""Files on the web or in object stores (s3://, gs://, https://, hf://, az://, ...) for the command line.

DuckDB reads these through its extensions (httpfs for the web, S3, Google Cloud Storage, Cloudflare R2 and
Hugging Face; azure for Azure storage). An extension is downloaded once and then loaded from the DuckDB
folder in the user's home; on a machine without network the download fails, and the user is told how
to install it or to use a local copy. S3 keys come from the standard AWS_* environment variables, turned
into a DuckDB secret for the one connection; they are never shown. The dashboard never reads remote
files (its engine has external access switched off).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

import duckdb

from ltsi.errors import one_line_error
from ltsi.warehouse_sql import sql_text

__all__ = ["extension_for", "is_remote", "load_extensions", "remote_urls_in", "s3_secret_sql", "shown_url"]

# The URL schemes DuckDB's extensions read, and the extension for each (DuckDB 2.0 httpfs and azure).
EXTENSION_OF_SCHEME = {
    "http": "httpfs",
    "https": "httpfs",
    "s3": "httpfs",
    "s3a": "httpfs",
    "s3n": "httpfs",
    "gs": "httpfs",
    "gcs": "httpfs",
    "r2": "httpfs",
    "hf": "httpfs",
    "az": "azure",
    "azure": "azure",
    "abfs": "azure",
    "abfss": "azure",
}
S3_SCHEMES = ("s3", "s3a", "s3n")
# DuckDB matches these prefixes in lower case, so only lower-case schemes are remote (C:\x is a drive).
REMOTE_URL = re.compile(r"^(" + "|".join(EXTENSION_OF_SCHEME) + r")://")
# A quoted text in a query that starts like a remote URL (the files a --sql query reads).
QUOTED_REMOTE_URL = re.compile(r"'((?:" + "|".join(EXTENSION_OF_SCHEME) + r")://(?:[^']|'')*)'")
S3_SECRET = "ltsi_s3"


def is_remote(source: str | None) -> bool:
    """Whether `source` is a URL that DuckDB reads through an extension rather than a local path."""
    return bool(source) and REMOTE_URL.match(source) is not None


def remote_urls_in(sql: str | None) -> list[str]:
    """The remote URLs written as quoted text in a query, once each, in order."""
    found = [match.group(1).replace("''", "'") for match in QUOTED_REMOTE_URL.finditer(sql or "")]
    return list(dict.fromkeys(found))


def extension_for(url: str) -> str:
    """The DuckDB extension that reads `url` (a remote URL)."""
    return EXTENSION_OF_SCHEME[url.split("://", 1)[0]]


def shown_url(url: str) -> str:
    """The URL without its query string, which may hold a signature or a token (presigned links)."""
    return url.split("?", 1)[0]


def load_extensions(con: duckdb.DuckDBPyConnection, urls: Iterable[str], env: Mapping[str, str]) -> None:
    """Loads the extensions that read `urls` (installing each once), then the S3 secret from `env` when an
    S3 URL is read and AWS_* variables are set. Raises LTSIError when an extension is not available."""
    urls = list(urls)
    for name in dict.fromkeys(extension_for(url) for url in urls):
        first = next(url for url in urls if extension_for(url) == name)
        _load_extension(con, name, shown_url(first))
    secret = s3_secret_sql(env) if any(url.startswith(tuple(f"{s}://" for s in S3_SCHEMES)) for url in urls) else None
    if secret is not None:
        try:
            con.execute(secret)
        except duckdb.Error:
            # DuckDB's message could repeat the statement, which holds the keys: say which settings to check.
            raise one_line_error(
                "The S3 settings in the environment were not accepted; check AWS_ACCESS_KEY_ID, "
                "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION and AWS_ENDPOINT_URL."
            ) from None


def _load_extension(con: duckdb.DuckDBPyConnection, name: str, shown: str) -> None:
    try:
        con.execute(f"LOAD {name}")
        return
    except duckdb.Error:
        pass  # not installed yet on this machine: download it once
    try:
        con.execute(f"INSTALL {name}")
        con.execute(f"LOAD {name}")
    except duckdb.Error:
        raise one_line_error(
            f"Reading {shown} needs DuckDB's {name} extension, which is not installed here and could not be "
            f"downloaded (no network?): run python -c \"import duckdb; duckdb.sql('INSTALL {name}')\" once while "
            "this machine has network, or copy the files to this machine and give their local path."
        ) from None


def s3_secret_sql(env: Mapping[str, str]) -> str | None:
    """The CREATE SECRET statement for S3 from the standard AWS_* variables in `env`; None when none is set.

    AWS_ENDPOINT_URL (an S3-compatible store such as MinIO) sets the host, path-style URLs, and plain HTTP
    when it starts with http://."""
    options: list[tuple[str, str]] = []
    for option, variables in (
        ("KEY_ID", ("AWS_ACCESS_KEY_ID",)),
        ("SECRET", ("AWS_SECRET_ACCESS_KEY",)),
        ("SESSION_TOKEN", ("AWS_SESSION_TOKEN",)),
        ("REGION", ("AWS_REGION", "AWS_DEFAULT_REGION")),
    ):
        value = next((env[v].strip() for v in variables if env.get(v, "").strip()), None)
        if value is not None:
            options.append((option, sql_text(value)))
    endpoint = env.get("AWS_ENDPOINT_URL", "").strip()
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        host = (parts.netloc + parts.path).rstrip("/")
        options += [
            ("ENDPOINT", sql_text(host)),
            ("URL_STYLE", "'path'"),  # S3-compatible stores serve buckets as paths, not host names
            ("USE_SSL", "false" if parts.scheme == "http" else "true"),
        ]
    if not options:
        return None
    listed = ", ".join(f"{option} {value}" for option, value in options)
    return f"CREATE SECRET {S3_SECRET} (TYPE s3, {listed})"
