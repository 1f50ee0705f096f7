"""Remote sources of ltsi.warehouse.scan (s3://, https://, hf://, az://, ...): which strings are URLs, the
dashboard's fence, the S3 secret from AWS_* variables, and a real read over HTTP from a local server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from ltsi.errors import LTSIError
from ltsi.remote_sources import extension_for, is_remote, load_extensions, remote_urls_in, s3_secret_sql, shown_url
from ltsi.synth import generate
from ltsi.warehouse import needs_scan, scan
from ltsi.warehouse_source import resolve_remote_files

KEY_ID, SECRET_KEY, TOKEN = "AKIAEXAMPLEKEY", "s3cr3t/'value", "session-token-value"


@pytest.mark.parametrize(
    ("source", "extension"),
    [
        ("s3://bucket/prefix/*.parquet", "httpfs"),
        ("gs://bucket/events.csv", "httpfs"),
        ("https://example.org/x.parquet", "httpfs"),
        ("http://127.0.0.1:8000/x.parquet", "httpfs"),
        ("hf://datasets/someone/log/**/*.parquet", "httpfs"),
        ("r2://bucket/x.parquet", "httpfs"),
        ("az://container/x.parquet", "azure"),
        ("abfss://fs/path/x.csv", "azure"),
    ],
)
def test_remote_urls_go_to_the_engine(source, extension):
    assert is_remote(source) and needs_scan(source)
    assert extension_for(source) == extension


@pytest.mark.parametrize(
    "source", ["C:\\x", "./s3:/x", "file.parquet", "data/s3://x.parquet", "file:///tmp/x.parquet", "ftp://h/x.csv", ""]
)
def test_local_paths_and_unknown_schemes_are_not_remote(source):
    assert not is_remote(source)


def test_urls_written_in_a_query_are_found():
    sql = (
        "SELECT * FROM read_parquet('s3://b/it''s.parquet') JOIN 'https://h/y.csv' USING (user_id) "
        "WHERE note <> 'http' AND \"https://not-a-text\" IS NULL AND src = 's3://b/it''s.parquet'"
    )
    assert remote_urls_in(sql) == ["s3://b/it's.parquet", "https://h/y.csv"]
    assert remote_urls_in("SELECT * FROM read_parquet('/data/x.parquet')") == []
    assert remote_urls_in(None) == []


def test_the_dashboard_fence_refuses_urls(tmp_path):
    with pytest.raises(LTSIError, match="only with the command line") as caught:
        scan("s3://bucket/events/*.parquet", allowed_folders=[tmp_path])
    assert "s3://bucket/events/*.parquet" in str(caught.value)
    with pytest.raises(LTSIError, match="only with the command line") as caught:
        scan("", sql="SELECT * FROM read_parquet('https://h/x.parquet?token=abc')", allowed_folders=[tmp_path])
    assert "https://h/x.parquet," in str(caught.value) and "abc" not in str(caught.value)


def test_s3_secret_from_the_aws_variables():
    env = {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": TOKEN,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://minio.local:9000/",
    }
    sql = s3_secret_sql(env)
    assert sql == (
        "CREATE SECRET ltsi_s3 (TYPE s3, KEY_ID 'AKIAEXAMPLEKEY', SECRET 's3cr3t/''value', "
        "SESSION_TOKEN 'session-token-value', REGION 'eu-west-1', ENDPOINT 'minio.local:9000', "
        "URL_STYLE 'path', USE_SSL false)"
    )
    assert len(duckdb.connect().extract_statements(sql)) == 1  # one statement: the quote in the key is escaped
    # AWS_REGION wins over AWS_DEFAULT_REGION; an https endpoint (or a bare host) keeps SSL.
    only_region = s3_secret_sql({"AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "eu-west-1"})
    assert only_region == "CREATE SECRET ltsi_s3 (TYPE s3, REGION 'us-east-2')"
    assert s3_secret_sql({"AWS_ENDPOINT_URL": "storage.example.com"}).endswith(
        "ENDPOINT 'storage.example.com', URL_STYLE 'path', USE_SSL true)"
    )
    assert s3_secret_sql({}) is None and s3_secret_sql({"AWS_ACCESS_KEY_ID": "  "}) is None


def test_a_refused_secret_names_the_variables_but_not_their_values(monkeypatch):
    # Without the httpfs extension loaded (autoloading off) the engine knows no S3 secret type, so CREATE SECRET
    # fails on every machine; the extension step itself is skipped here.
    monkeypatch.setattr("ltsi.remote_sources._load_extension", lambda con, name, shown: None)
    con = duckdb.connect(config={"autoload_known_extensions": False, "autoinstall_known_extensions": False})
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_SESSION_TOKEN": TOKEN}
    with pytest.raises(LTSIError, match="AWS_ACCESS_KEY_ID") as caught:
        load_extensions(con, ["s3://bucket/x.parquet"], env)
    assert all(value not in str(caught.value) for value in (KEY_ID, SECRET_KEY, TOKEN))
    load_extensions(con, ["https://h/x.parquet"], env)  # not on S3: no secret is created, so nothing fails


def test_the_format_of_a_url_comes_from_its_name():
    con = duckdb.connect()
    assert resolve_remote_files(con, "https://h/x.parquet?sig=1") == (["https://h/x.parquet?sig=1"], "parquet")
    assert resolve_remote_files(con, "gs://b/events.csv.gz") == (["gs://b/events.csv.gz"], "csv")
    with pytest.raises(LTSIError, match=r"read_parquet\('https://h/download'\)"):
        resolve_remote_files(con, "https://h/download?id=7")
    assert shown_url("https://h/x.parquet?X-Amz-Signature=abc") == "https://h/x.parquet"


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with byte ranges (DuckDB reads Parquet over HTTP in ranges), quiet."""

    def send_head(self):
        wanted = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not wanted or not path.is_file():
            return super().send_head()
        data = path.read_bytes()
        first, _, last = wanted.removeprefix("bytes=").partition("-")
        start, stop = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{stop}/{len(data)}")
        self.send_header("Content-Length", str(stop - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(data[start : stop + 1])
        return None

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def served_folder(tmp_path) -> Iterator[tuple[Path, str]]:
    """`tmp_path` served over HTTP on a free local port: (folder, base URL)."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *args: RangeHandler(*args, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def httpfs_available() -> bool:
    """Whether this machine can load DuckDB's httpfs extension (installed, or downloadable now)."""
    con = duckdb.connect()
    try:
        con.execute("LOAD httpfs")
        return True
    except duckdb.Error:
        pass  # not installed: try the download
    try:
        con.execute("INSTALL httpfs")
        con.execute("LOAD httpfs")
        return True
    except duckdb.Error:
        return False


def test_a_parquet_file_over_http(served_folder):
    folder, base = served_folder
    events = generate(n_users=12, n_items=20, n_categories=2, mean_events=6, seed=5).events
    events.to_parquet(folder / "events.parquet", index=False)
    url = f"{base}/events.parquet?sig=hidden-signature"
    if httpfs_available():
        result = scan(url, min_events=2)
        local = scan(str(folder / "events.parquet"), min_events=2)
        assert result.report.source == f"{base}/events.parquet"  # shown without the signature
        assert result.report.rows_read == len(events) == local.report.rows_read
        assert result.seqs.users == local.seqs.users and result.seqs.items.tokens == local.seqs.items.tokens
        assert result.seqs.item_ids.tolist() == local.seqs.item_ids.tolist()
        assert result.seqs.timestamps.tolist() == local.seqs.timestamps.tolist()
    else:
        with pytest.raises(LTSIError, match="httpfs extension") as caught:
            scan(url, min_events=2)
        message = str(caught.value)
        assert "INSTALL httpfs" in message and "local path" in message and "no network" in message
        assert "hidden-signature" not in message and "\n" not in message
