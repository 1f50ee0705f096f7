"""Per-run explanations the Users view and the HTML report show: thin glue over `ltsi`, cached in the ActiveRun.

No `st.*` here: a deferred download (the HTML report) calls these from another thread than the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from dashboard.state import ActiveRun
    from ltsi.catalogue import Catalogue
    from ltsi.explain import WhatIf
    from ltsi.histories import History
    from ltsi.scenarios import Edit, Scenario
    from ltsi.seen_items import SeenRule

MAX_FOUND_ITEMS = 50  # items an item search lists: a selectbox sends all its options to the browser


def heldout(active: ActiveRun, user: str) -> dict | None:
    """The user's held-out test event: {"end": history length before it, "item_id", "position"}; None if untested."""
    seqs, test = active.run.seqs, active.run.split.test
    if not seqs.has_user(user):
        return None
    u = seqs.user_index(user)
    at = int(np.searchsorted(test.users, u))  # the test cases list users in user order (both splits make them so)
    if at == len(test.users) or test.users[at] != u:
        return None
    end = int(test.ends[at])
    return {"end": end, "item_id": seqs.items.decode([test.targets[at]])[0], "position": end}


def find_users(active: ActiveRun, query: str, limit: int = 200) -> tuple[list[str], int]:
    """The first `limit` user ids containing `query` (any case, user order) and how many do; cached per query."""
    needle = query.lower()

    def compute() -> tuple[list[str], int]:
        found = [u for u in active.run.seqs.users if needle in u.lower()]  # one pass over every id
        return found[:limit], len(found)

    return active.cached(("user-search", needle, limit), compute)


def user_overview(active: ActiveRun, max_users: int = 5000) -> pd.DataFrame:
    """One row per (sampled) tested user: gate, short-term peak and held-out rank, for the suggestions."""

    def compute() -> pd.DataFrame:
        import torch

        from ltsi.histories import edit_history, pad_histories
        from ltsi.recommend import score_histories

        seqs, cases, model = active.run.seqs, active.run.split.test, active.run.model
        if len(cases) == 0:  # nobody has enough events for a held-out test event
            return pd.DataFrame(columns=["user_id", "n_events", "gate", "short_peak", "heldout_rank"])
        from ltsi.insights import sample_index, scored_users

        # each user's held-out rank scores the whole catalogue: a big catalogue gets fewer users (see scored_users)
        index = sample_index(len(cases), scored_users(len(seqs.items) - 1, max_users))
        users, ends, targets = cases.users[index], cases.ends[index], cases.targets[index]
        histories = [edit_history(seqs, int(u), int(e)) for u, e in zip(users, ends)]
        _, ranks = score_histories(model, histories, targets)
        gates, peaks = [], []
        with torch.no_grad():
            model.eval()
            for start in range(0, len(histories), 512):
                batch = pad_histories(histories[start : start + 512], model.config.max_len)
                out = model(batch.items, batch.events, batch.gaps)
                gates.append(out.gate[:, -1].float().numpy())
                peaks.append(out.short_attention[:, -1].max(-1).values.float().numpy())
        return pd.DataFrame(
            {
                "user_id": [seqs.users[int(u)] for u in users],
                "n_events": seqs.lengths[users],
                "gate": np.concatenate(gates) if gates else [],
                "short_peak": np.concatenate(peaks) if peaks else [],
                "heldout_rank": ranks,
            }
        )

    return active.cached(("overview", max_users), compute)


def seen_rule(active: ActiveRun) -> SeenRule:
    """`ltsi.seen_items.seen_rule` of the run's log (hide items already in the history, and why), once per run."""
    from ltsi.seen_items import seen_rule as rule_of

    return active.cached(("seen-rule",), lambda: rule_of(active.run.seqs))


def heldout_rank(active: ActiveRun, user: str, exclude_seen: bool = False) -> float:
    """Rank of the user's held-out item after the history before it (inf when not tested).

    `exclude_seen`: ranked among the items the user has not had yet (a held-out item already in the
    history then has no rank: inf).
    """
    held = heldout(active, user)
    if held is None:
        return float("inf")

    def compute() -> float:
        from ltsi.histories import edit_history
        from ltsi.recommend import score_histories

        seqs = active.run.seqs
        u = seqs.user_index(user)
        target = seqs.items.encode([held["item_id"]], "item")
        history = edit_history(seqs, u, held["end"])
        _, ranks = score_histories(active.run.model, [history], target, exclude_seen)
        return float(ranks[0])

    return active.cached(("heldout-rank", user, exclude_seen), compute)


def suggestions(active: ActiveRun) -> dict[str, tuple[str, str]]:
    """Up to four users worth a look: {label: (user_id, why)}; the interest ones only when the model separates users."""
    from dashboard.widgets import quality_of
    from ltsi.insights import suggest_users

    return suggest_users(user_overview(active), quality_of(active))


def explanation(
    active: ActiveRun, user: str, end: int | None, target: str | None, k: int = 10, exclude_seen: bool = False
):
    """ltsi.explain.explain for one user and one target (default: the top recommendation), cached per run.

    `exclude_seen`: recommend and rank without the items already in the history (then the default
    target is the top item the user has not had).
    """
    from ltsi.explain import explain

    r = active.run
    return active.cached(
        ("explain", user, end, target, k, exclude_seen),
        lambda: explain(
            r.model,
            r.seqs,
            user,
            targets=[target] if target else None,
            end=end,
            items=r.items,
            n_steps=32,
            with_occlusion=False,
            exclude_seen=exclude_seen,
            k=k,
        ),
    )


def what_if(
    active: ActiveRun,
    user: str,
    end: int | None,
    removed: tuple[int, ...],
    item: str | None,
    k: int = 10,
    exclude_seen: bool = False,
):
    """ltsi.explain.what_if: the recommendations without the events at `removed`, cached per run.

    `exclude_seen`: both lists leave out the items of their own history (before: the real one).
    """
    from ltsi.explain import what_if as _what_if

    r = active.run
    return active.cached(
        ("what-if", user, end, removed, item, k, exclude_seen),
        lambda: _what_if(
            r.model,
            r.seqs,
            user,
            remove=list(removed),
            item=item,
            k=k,
            end=end,
            items=r.items,
            exclude_seen=exclude_seen,
        ),
    )


# ---------------------------------------------------------------------------------------------
# What-if scenarios: any edit of a history (add an item anywhere, move an event, cut at a date)


@dataclass
class UserScenarios:
    """The Users page's what-if of one user and view (`Keys.SCENARIOS[(user, end)]`).

    `edits`: the changes being made (besides the events unticked in the page's table), applied in order;
    `saved`: the scenarios the analyst kept under a name, oldest first (for the report and the export).
    """

    edits: tuple[Edit, ...] = ()
    saved: list[Scenario] = field(default_factory=list)

    def save(self, scenario: Scenario) -> None:
        """Keep `scenario`; one of the same name is replaced (saving again after more changes updates it)."""
        self.saved = [s for s in self.saved if s.name != scenario.name] + [scenario]

    def named(self, name: str) -> Scenario | None:
        return next((s for s in self.saved if s.name == name), None)


def edited_history(active: ActiveRun, user: str, end: int | None, edits: tuple[Edit, ...]) -> History:
    """`ltsi.scenarios.apply_edits` of the user's history [0, end), cached per run."""
    from ltsi.scenarios import apply_edits

    return active.cached(("edited-history", user, end, edits), lambda: apply_edits(active.run.seqs, user, edits, end))


def what_if_edits(
    active: ActiveRun,
    user: str,
    end: int | None,
    edits: tuple[Edit, ...],
    item: str | None,
    k: int = 10,
    exclude_seen: bool = False,
) -> WhatIf:
    """ltsi.explain.what_if_history of the history after `edits`: top-K before and after, `item`'s change."""
    from ltsi.explain import what_if_history

    r = active.run

    def compute() -> WhatIf:
        edited = edited_history(active, user, end, edits)
        return what_if_history(r.model, r.seqs, user, edited, item, k, end, r.items, exclude_seen)

    return active.cached(("what-if-edits", user, end, edits, item, k, exclude_seen), compute)


def item_titles(active: ActiveRun) -> pd.Series:
    """item id -> title, from the run's item table (empty without one), once per run; a missing title stays
    missing (NaN), so `ltsi.items.item_label` shows the bare id for it."""
    items = active.run.items
    if items is None or "title" not in items:
        return pd.Series(dtype=object)
    return active.cached(("item-titles",), lambda: items.drop_duplicates("item_id").set_index("item_id")["title"])


def catalogue(active: ActiveRun) -> Catalogue:
    """The run's items with titles and event counts, for search and labels (`ltsi.catalogue.Catalogue`)."""
    from ltsi.catalogue import Catalogue

    return active.cached(("item-catalogue",), lambda: Catalogue.of(active.run.seqs, active.run.items))


def find_items(active: ActiveRun, query: str, limit: int = MAX_FOUND_ITEMS) -> list[str]:
    """Ids of up to `limit` catalogue items whose id or title contains `query` (any case), most popular first.

    An item whose id is exactly `query` comes first; an empty query lists the most popular items.
    """
    items = catalogue(active)  # most popular first (the vocabulary's order)
    if not query.strip():
        return items.first(limit)
    return items.search(query, limit, first=[query.strip()])[0]


def scenario_words(active: ActiveRun, user: str, end: int | None, edits: tuple[Edit, ...]) -> list[str]:
    """`ltsi.scenarios.describe_edits` with the items' titles (plain text: escape it where it is shown)."""
    from ltsi.items import item_label
    from ltsi.scenarios import describe_edits

    titles = item_titles(active)
    return describe_edits(active.run.seqs, user, edits, end, name=lambda i: item_label(i, titles.get(i)))
