"""Export helpers: safe CSV, run folder zip (and back), the self-contained one-user HTML report.

Pure functions (no Streamlit), tested without a browser.
"""

from __future__ import annotations

import html
import io
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

# Spreadsheet programs run a cell that starts with one of these as a formula ("CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_UNZIPPED_BYTES = 2 << 30  # a run folder is model weights + JSON; refuse zip bombs


def neutralise(value: object) -> object:
    """Prefix a text cell that a spreadsheet would run as a formula with a single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes (UTF-8) of `frame` with formula-like text cells neutralised; numbers are left as numbers."""
    out = frame.copy()
    out.columns = [neutralise(str(c)) for c in out.columns]
    for column in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column])
                or pd.api.types.is_datetime64_any_dtype(out[column])):
            out[column] = out[column].map(neutralise, na_action="ignore")
    return out.to_csv(index=False).encode("utf-8")


def zip_folder(folder: Path | str) -> bytes:
    """The folder's files as an in-memory zip, paths relative to the folder."""
    folder = Path(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def unzip_to(data: bytes, target: Path | str) -> Path:
    """Extract a run zip into `target` safely; returns the folder that holds config.json.

    Refuses absolute paths, '..' components, links and archives that unpack to more than 2 GB.
    Raises ValueError with a plain message.
    """
    target = Path(target)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise ValueError("This file is not a zip archive. Upload the .zip that the Export page made.") from error
    with archive:
        total = 0
        for info in archive.infolist():
            name = info.filename
            if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
                raise ValueError(f"The zip contains an unsafe path ({name!r}); it was not opened.")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise ValueError(f"The zip contains a link ({name!r}); it was not opened.")
            total += info.file_size
            if total > MAX_UNZIPPED_BYTES:
                raise ValueError("The zip unpacks to more than 2 GB; that is not a run folder.")
        archive.extractall(target)
    configs = sorted(target.rglob("config.json"), key=lambda p: len(p.parts))
    if not configs:
        raise ValueError("The zip has no config.json: it is not a run folder saved by LTSI.")
    return configs[0].parent


def _table_html(frame: pd.DataFrame, floats: str = "{:.3f}") -> str:
    return frame.to_html(index=False, border=0, classes="table", escape=True,
                         float_format=lambda v: floats.format(v), na_rep="")


def user_report_html(*, user_id: str, run_name: str, summary: list[str], figures: list[tuple[str, go.Figure, str]],
                     tables: list[tuple[str, pd.DataFrame]], generated: datetime | None = None) -> str:
    """One self-contained HTML page: text, Plotly charts (plotly.js inlined once, works offline) and tables.

    `summary`: plain-text sentences (escaped); `figures`: (heading, figure, caption);
    `tables`: (heading, DataFrame). Everything user-supplied is HTML-escaped.
    """
    generated = generated or datetime.now(timezone.utc)
    parts = []
    for i, (heading, fig, caption) in enumerate(figures):
        chart = fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False},
                            default_width="100%")
        parts.append(f"<section><h2>{html.escape(heading)}</h2>{chart}"
                     f"<p class='caption'>{html.escape(caption)}</p></section>")
    for heading, frame in tables:
        parts.append(f"<section><h2>{html.escape(heading)}</h2>{_table_html(frame)}</section>")
    bullets = "".join(f"<li>{html.escape(line)}</li>" for line in summary)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Why these recommendations: user {html.escape(user_id)}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2430; max-width: 1100px;
       margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }}
h1 {{ font-size: 1.6rem; margin-bottom: .2rem; }} h2 {{ font-size: 1.15rem; margin-top: 2rem; }}
.meta {{ color: #6b7280; font-size: .9rem; }} .caption {{ color: #4b5563; font-size: .9rem; }}
.table {{ border-collapse: collapse; font-size: .9rem; }}
.table th, .table td {{ padding: .3rem .7rem; border-bottom: 1px solid #e5e7eb; text-align: left; }}
.table th {{ background: #f3f6fb; }}
</style></head><body>
<h1>Why these recommendations: user {html.escape(user_id)}</h1>
<p class="meta">Model: {html.escape(run_name)} · generated {generated:%Y-%m-%d %H:%M} UTC by the LTSI dashboard</p>
<ul>{bullets}</ul>
{''.join(parts)}
<p class="meta">How to read it: the short-term attention shows which of the last few events the model looked at; the
long-term weights show which events of the whole history shaped the lasting interest; the attribution shows how much
each event pushed the explained item's score up (blue) or down (red): through its item, event type and time gap, and,
for each of the last 3 events of a model with a counts part, through its transition term (how often its item was
directly followed by the explained item in training). The gate is the share of long-term interest.</p>
</body></html>
"""
