"""A run's catalogue for the views that list items: every item's id, title and events in the log, searched and
labelled with Arrow's string kernels (a Python loop over a million items takes seconds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ltsi.items import item_label
from ltsi.recommend import TITLE_COLUMNS
from ltsi.sequences import Sequences, Vocabulary


@dataclass(frozen=True)
class Catalogue:
    """The model's items (padding left out) in vocabulary order, with their titles and event counts."""

    vocabulary: Vocabulary  # the model's items: id -> position + 1 (its dict answers one lookup at a time)
    ids: pa.Array  # (M,) string
    titles: pa.Array  # (M,) string, null where the item table names no title (or there is no table)
    events: np.ndarray  # (M,) int64 events of each item in the log

    @classmethod
    def of(cls, seqs: Sequences, items: pd.DataFrame | None) -> Catalogue:
        ids = pa.array(seqs.items.tokens[1:], pa.string())  # (M,)
        titles = pa.nulls(len(ids), pa.string())
        title = next((name for name in TITLE_COLUMNS if name in getattr(items, "columns", ())), None)
        if title is not None and "item_id" in items.columns:
            row = pc.index_in(ids, value_set=pa.array(items["item_id"].astype(str), pa.string()))  # (M,) first row
            titles = pc.take(pa.array(items[title].astype("string"), pa.string()), row)  # null: no title
        events = np.bincount(seqs.item_ids, minlength=len(seqs.items))[1:]
        return cls(seqs.items, ids, titles, events)

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, item_ids: Sequence[str]) -> np.ndarray:
        """Each id's position in the catalogue, -1 where it is not one of the model's items; (K,) int64."""
        found = (self.vocabulary.id_of(item_id) for item_id in item_ids)
        return np.array([-1 if idx is None else idx - 1 for idx in found], dtype=np.int64)

    def has(self, item_id: str) -> bool:
        return bool(self.positions([item_id])[0] >= 0)

    def label(self, item_id: str) -> str:
        """ "title (id)", or the id without a title (or for an item outside the catalogue)."""
        at = int(self.positions([item_id])[0])
        return item_label(item_id, self.titles[at].as_py() if at >= 0 else None)

    def events_of(self, item_id: str) -> int:
        at = int(self.positions([item_id])[0])
        return int(self.events[at]) if at >= 0 else 0

    def first(self, n: int) -> list[str]:
        """The first `n` ids (the vocabulary's order)."""
        return self.ids.slice(0, n).to_pylist()

    def search(self, query: str, limit: int, first: Sequence[str] = ()) -> tuple[list[str], int]:
        """Up to `limit` ids whose id or title contains `query` (any case) and how many match in all.

        The matches among `first` come first, in its order (e.g. the items most users get); then the rest
        in catalogue order.
        """
        needle = query.strip()
        in_title = pc.fill_null(pc.match_substring(self.titles, needle, ignore_case=True), False)
        hit = pc.or_(pc.match_substring(self.ids, needle, ignore_case=True), in_title).to_numpy(zero_copy_only=False)
        preferred = self.positions(first)
        preferred = preferred[preferred >= 0]
        preferred = preferred[hit[preferred]]  # (P,) matching items of `first`, in its order
        rest = np.flatnonzero(hit)  # (H,) catalogue order
        chosen = list(dict.fromkeys([*preferred[:limit].tolist(), *rest[: limit + len(preferred)].tolist()]))[:limit]
        return pc.take(self.ids, pa.array(chosen, pa.int64())).to_pylist(), len(rest)
