"""Time column -> UTC nanoseconds: epoch units by magnitude, ISO and written dates, a reported day-first choice.

Also home of the pyarrow text helpers the conversion of every column shares (`as_arrow_text`,
`factorize`, `as_bools`), and of the number/date shapes that header and content sniffing use.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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

NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
DATE_RE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T].*)?$")


def looks_iso(v: str) -> bool:
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}", v))


# ---------------------------------------------------------------------------------------------
# pyarrow text helpers


def as_arrow_text(series: pd.Series) -> pa.Array:
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


def factorize(arr: pa.Array, sort: bool) -> tuple[np.ndarray, pa.Array]:
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


def as_bools(arr: pa.Array) -> np.ndarray:
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool)


def _try_int64(arr: pa.Array) -> pa.Array | None:
    try:
        return pc.cast(arr, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _as_float(arr: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.cast(arr, pa.float64()), np.nan).to_numpy(zero_copy_only=False)


# ---------------------------------------------------------------------------------------------
# Times


@dataclass
class Times:
    ns: np.ndarray  # int64 nanoseconds since epoch, NAT_NS where unusable
    missing: np.ndarray
    unparseable: np.ndarray
    out_of_range: np.ndarray
    unit: str


def parse_times(series: pd.Series, dayfirst: bool | None, notes: list[str]) -> Times:
    """Any time column (dates, epoch numbers, text) -> UTC nanoseconds, with the rows it cannot use."""
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
        return Times(np.full(n, NAT_NS), np.zeros(n, bool), np.ones(n, bool), np.zeros(n, bool), "unreadable")
    if pd.api.types.is_numeric_dtype(series.dtype):
        vals = series.to_numpy(dtype="float64", na_value=np.nan)
        ints = series.to_numpy(dtype="int64", na_value=0) if series.dtype.kind in "iu" else None
        missing = np.isnan(vals)
        return _epoch(vals, ints, missing, np.zeros(n, bool), None, notes)

    arr = as_arrow_text(series)
    missing = as_bools(arr.is_null())
    present = int((~missing).sum())
    ints = _try_int64(arr)
    if ints is not None:  # the fast, common case: every value is a whole number
        iv = pc.fill_null(ints, 0).to_numpy(zero_copy_only=False)
        return _epoch(iv.astype("float64"), iv, missing, np.zeros(n, bool), arr, notes)
    # Which values are numbers: plain digits by a fast kernel, the few others by a regex.
    is_num = as_bools(pc.ascii_is_decimal(arr))
    other = np.flatnonzero(~missing & ~is_num)
    if len(other):
        sub = as_bools(pc.match_substring_regex(arr.take(pa.array(other)), NUMBER_RE.pattern))
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


def _epoch(
    vals: np.ndarray,
    ints: np.ndarray | None,
    missing: np.ndarray,
    unparseable: np.ndarray,
    text: pa.Array | None,
    notes: list[str],
) -> Times:
    """Numbers -> times: the unit is the one that puts most values in 1990-2100."""
    ok = ~missing & ~unparseable
    v = vals[ok]
    v = v[:: max(1, len(v) // 200_000)]  # the unit is decided on an even sample; cheap
    shares = {
        u: float(np.mean((v >= EPOCH_LOW_S * k) & (v < EPOCH_HIGH_S * k))) if len(v) else 0.0
        for u, k in UNIT_PER_SECOND.items()
    }
    unit = max(shares, key=shares.get)
    n = len(vals)
    if shares[unit] < 0.5 and text is not None:
        compact = _compact_dates(text, ok, notes)
        if compact is not None:
            return compact
    v = vals[ok]
    if shares[unit] == 0.0 and len(v) and v.min() >= 0 and v.max() < EPOCH_LOW_S:
        notes.append(
            f"The time column holds small numbers ({plain_number(v.min())} to {plain_number(v.max())}), not dates; "
            "they were read as seconds from an arbitrary start, so calendar dates shown are not real."
        )
        ns = np.full(n, NAT_NS, dtype=np.int64)
        ns[ok] = np.round(vals[ok] * 1e9).astype(np.int64)
        return Times(ns, missing, unparseable, np.zeros(n, bool), UNIT_RELATIVE)
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
    return Times(ns, missing, unparseable, out, unit)


def _compact_dates(text: pa.Array, ok: np.ndarray, notes: list[str]) -> Times | None:
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


def _text_dates(arr: pa.Array, missing: np.ndarray, dayfirst: bool | None, notes: list[str]) -> Times:
    """Dates as text: ISO 8601 first; the rest with an explicit, reported day-first choice.

    Each distinct text is parsed once (logs repeat their times a lot), and a format is tried
    on all values only if it reads some of an even sample, so a miss costs next to nothing.
    """
    codes, uniques = factorize(arr, sort=False)
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
    rest = parsed.isna() & ~u.str.fullmatch(NUMBER_RE.pattern)
    if rest.any():
        cand = u[rest]
        parts = pc.extract_regex(pa.array(cand), r"^\s*(?P<a>\d{1,2})(?P<sep>[/.\-])(?P<b>\d{1,2})[/.\-]\d{2,4}")
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
            more[todo] = pd.to_datetime(cand[todo], format="ISO8601", utc=True, errors="coerce").dt.as_unit("us")
            todo = more.isna()
        # Anything else ("Apr 7, 2014", "2014/04/07 10:51"): value by value, slow but general.
        # Year-first text is never day-first (dateutil would turn 2014-01-02 into 1 February).
        year_first = cand.str.match(r"\s*\d{4}").to_numpy(dtype=bool, na_value=False)
        for mask, first_is_day in ((todo & year_first, False), (todo & ~year_first, dayfirst)):
            if mask.any():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    more[mask] = pd.to_datetime(
                        cand[mask], format="mixed", utc=True, dayfirst=bool(first_is_day), errors="coerce"
                    ).dt.as_unit("us")
        parsed = parsed.dt.as_unit("us")
        parsed[rest] = more
    uniq_ns = _ns_clipped(parsed)
    ns = np.where(codes >= 0, uniq_ns[np.maximum(codes, 0)], NAT_NS)
    unparseable = ~missing & (ns == NAT_NS)
    unit = "datetime (" + " and ".join(labels or ["text"]) + " strings)"
    return _window(ns, missing, unparseable, unit)


def _try_format(values: pd.Series, fmt: str) -> pd.Series:
    """to_datetime with one format, skipped (all NaT) when it reads nothing in a sample."""
    sample = values.iloc[:: max(1, len(values) // 500)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if pd.to_datetime(sample, format=fmt, utc=True, errors="coerce").notna().any() or len(sample) == len(values):
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


def _decide_dayfirst(
    cand: pd.Series, seps: pd.Series, first: pd.Series, second: pd.Series, dayfirst: bool | None, notes: list[str]
) -> bool:
    if dayfirst is not None:
        notes.append(f"Dates like {cand.iloc[0]} were read as {'day' if dayfirst else 'month'}-first, as requested.")
        return dayfirst
    big_first, big_second = first > 12, second > 12
    if big_first.any() and not big_second.any():
        ex = cand[big_first].iloc[0]
        notes.append(
            f"Dates were read as day-first (day/month/year) because some, like {ex}, start with a number above 12."
        )
        return True
    if big_second.any() and not big_first.any():
        ex = cand[big_second].iloc[0]
        notes.append(
            f"Dates were read as month-first (month/day/year) because some, like {ex}, have a second number above 12."
        )
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
        notes.append(
            f"Dates like {cand.iloc[0]} could be day-first or month-first; dates with "
            "dots are usually day.month.year, so they were read day-first. Use "
            "--monthfirst (dayfirst=False) if that is wrong."
        )
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


def _window(ns: np.ndarray, missing: np.ndarray, unparseable: np.ndarray, unit: str) -> Times:
    ok = ~missing & ~unparseable
    out = ok & ((ns < DATE_LOW_NS) | (ns >= DATE_HIGH_NS))
    ns = np.where(out, NAT_NS, ns)
    return Times(ns, missing, unparseable, out, unit)


def plain_number(x: float) -> str:
    """A number as an analyst reads it: 27,506,100 or 0.25 (never 2.75061e+07)."""
    if float(x).is_integer() or abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:,.6f}".rstrip("0").rstrip(".")
