"""Item tables: recognise a file that lists items, and read it as item_id, title, category (+ main_category);
or build one from an event log's own category column."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ltsi.column_content import profile
from ltsi.column_names import CATEGORY_NAMES, GENERIC_RE, ITEM_ID_NAMES, KNOWN_NAMES, TITLE_NAMES, norm_name
from ltsi.errors import one_line_error
from ltsi.readers import read_table
from ltsi.times import as_arrow_text


def looks_like_item_table(frame: pd.DataFrame) -> bool:
    """True for a raw frame that names an item id and a title/category but no user or time:
    a file like MovieLens movies.csv, to be read with load_items rather than load_events."""
    names = {norm_name(c) for c in frame.columns}
    has_id = bool(names & set(ITEM_ID_NAMES))
    has_meta = bool(names & (set(TITLE_NAMES) | set(CATEGORY_NAMES)))
    has_user_or_time = bool(names & (set(KNOWN_NAMES["user"]) | set(KNOWN_NAMES["timestamp"])))
    return has_id and has_meta and not has_user_or_time


def is_item_table(obj: Any) -> bool:
    return isinstance(obj, pd.DataFrame) and {"item_id", "title", "category"} <= set(obj.columns)


def load_items(source: Any, name: str | None = None) -> pd.DataFrame:
    """Item table: item_id, title, category (+ main_category for genres), one row per item.

    Genres written 'A|B|C' keep all of them: category 'A | B | C', and main_category 'A' (the first)
    for what needs one value per item, such as the colours of a map. Missing titles fall back to
    the item id, missing categories to 'unknown'.
    """
    frame, _info = read_table(source, name)
    if len(frame) == 0:
        raise one_line_error("The item table has no rows. Choose the file that lists the items.")
    columns = [str(c) for c in frame.columns]

    def by_name(names: list[str], taken: set[str]) -> str | None:
        ranked = sorted(
            (names.index(norm_name(c)), i, c) for i, c in enumerate(columns) if c not in taken and norm_name(c) in names
        )
        return ranked[0][2] if ranked else None

    id_col = by_name(ITEM_ID_NAMES, set())
    if id_col is None:
        id_col = next((c for c in columns if GENERIC_RE.match(c) and profile(frame[c])["idlike"]), None)
    if id_col is None:
        raise one_line_error(
            f"The item table has no item id column (columns: {', '.join(columns)}). Name it "
            "item_id, or put the id in the first column."
        )
    taken = {id_col}
    title_col = by_name(TITLE_NAMES, taken)
    samples = {c: frame[c].dropna().head(2000).astype("str") for c in columns if c not in taken and GENERIC_RE.match(c)}
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

    ids = pd.Series(as_arrow_text(frame[id_col]), dtype="str")
    out = pd.DataFrame({"item_id": ids})
    out["title"] = pd.Series(as_arrow_text(frame[title_col]), dtype="str").fillna(ids) if title_col else ids
    if cat_col:
        cat = pd.Series(as_arrow_text(frame[cat_col]), dtype="str")
        if cat.str.contains("|", regex=False).any() or norm_name(cat_col) in ("genres", "genre", "categories"):
            out["category"] = joined_genres(cat)
            out["main_category"] = out["category"].str.split(" | ", n=1, regex=False).str[0]
        else:
            out["category"] = cat.fillna("unknown")
    else:
        out["category"] = "unknown"
    out = out[out["item_id"].notna()].drop_duplicates("item_id", keep="first")
    for col in out.columns:
        out[col] = out[col].astype("str")
    return out.reset_index(drop=True)


def joined_genres(genres: pd.Series) -> pd.Series:
    """'Action|Comedy' -> 'Action | Comedy' (empty parts left out); a blank entry -> 'unknown'."""
    joined = genres.str.replace(r"\s*(?:\|\s*)+", " | ", regex=True).str.strip(" |")
    return joined.mask(joined.fillna("") == "", "unknown")


def items_from_events(item_ids: pd.Series, categories: pd.Series) -> pd.DataFrame:
    """Item table from an event log's own category column: item_id, title (the id), category.

    An item's category is the one its events name most often (ties: the first in alphabetical
    order, so the table does not depend on row order); items whose events name none get 'unknown'.
    """
    ids = item_ids.astype("str").reset_index(drop=True)
    cats = pd.Series(as_arrow_text(categories), dtype="str").reset_index(drop=True).str.strip()
    named = pd.DataFrame({"item_id": ids, "category": cats})
    named = named[named["category"].fillna("") != ""]
    counts = named.groupby(["item_id", "category"], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values(["item_id", "n", "category"], ascending=[True, False, True], kind="stable")
    top = counts.drop_duplicates("item_id", keep="first").set_index("item_id")["category"]
    every = pd.Index(ids.unique(), name="item_id")
    out = pd.DataFrame({"item_id": every, "title": every, "category": top.reindex(every).fillna("unknown").to_numpy()})
    return out.astype("str").reset_index(drop=True)


def item_label(item_id: object, title: object = None) -> str:
    """How an item is named to a person: "title (id)", or the bare id when there is no title."""
    return f"{title} ({item_id})" if isinstance(title, str) and title else str(item_id)
