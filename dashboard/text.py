"""Small wording helpers shared by the views, the figures and the HTML report (pure: no Streamlit).

So that a page reads naturally for any log, including tiny ones: "1 row" / "2 rows", "under 1 s".
"""

from __future__ import annotations

import math

METRIC_K = 10  # the cut-off of the metrics the dashboard shows (HR@10, NDCG@10, MRR@10)


def plural(n: float, word: str, words: str | None = None) -> str:
    """'1 row', '0 rows', '1,234 users'; `words` for an irregular plural ('1 category', '3 categories')."""
    count = int(n) if float(n).is_integer() else n
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def fmt_seconds(seconds: float | None) -> str:
    """'under 1 s', '2.4 s', '7 s', '45 s', '3.5 min' ('–' when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds < 1:
        return "under 1 s"
    if seconds < 10:
        return f"{round(seconds, 1):g} s"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def small_catalogue_note(n_items: int, k: int = METRIC_K) -> str | None:
    """What to say instead of reading the @k metrics when the catalogue has no more than k items (else None)."""
    if n_items > k:
        return None
    return (f"The catalogue has only {plural(n_items, 'item')}, not more than {k}: every model puts the held-out item "
            f"in its top {k}, so HR@{k} is 1 for all of them and NDCG@{k} / MRR@{k} only compare ranks among "
            f"{plural(n_items, 'item')}. These numbers say little about the model here; a log with more than {k} "
            "items is needed to compare models.")


def short_window_note(window: int, max_len: int, longest: int) -> str | None:
    """A note when the chosen short-term window is longer than what it can see (else None).

    `max_len` is the history length the model reads, `longest` the longest user history in the log.
    """
    reach = min(max_len, longest)
    if window <= reach:
        return None
    if max_len <= longest:
        return (f"The short-term window ({plural(window, 'event')}) is longer than the history length "
                f"({plural(max_len, 'event')}): the model is trained with a window of {max_len}, the whole history "
                "it reads, so short-term and long-term interest see the same events.")
    return (f"The short-term window ({plural(window, 'event')}) is longer than the longest history in this log "
            f"({plural(longest, 'event')}): the short-term attention sees every user's whole history, so short-term "
            "and long-term interest see the same events.")
