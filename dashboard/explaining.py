"""Per-run explanations the Users view and the HTML report show: thin glue over `ltsi`, cached in the ActiveRun.

No `st.*` here: a deferred download (the HTML report) calls these from another thread than the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dashboard.text import fmt_rank

if TYPE_CHECKING:
    from dashboard.state import ActiveRun


def heldout(active: ActiveRun, user: str) -> dict | None:
    """The user's held-out test event: {"end": history length before it, "item_id", "position"}; None if untested."""
    seqs, test = active.run.seqs, active.run.split.test
    table = active.cached(
        ("heldout-table",),
        lambda: {seqs.users[int(u)]: (int(e), int(t)) for u, e, t in zip(test.users, test.ends, test.targets)},
    )
    if user not in table:
        return None
    end, target = table[user]
    return {"end": end, "item_id": seqs.items.decode([target])[0], "position": end}


def user_overview(active: ActiveRun, max_users: int = 5000) -> pd.DataFrame:
    """One row per (sampled) tested user: gate, short-term peak and held-out rank, for the suggestions."""

    def compute() -> pd.DataFrame:
        import torch

        from ltsi.recommend import score_histories
        from ltsi.sequences import edit_history, pad_histories

        seqs, cases, model = active.run.seqs, active.run.split.test, active.run.model
        if len(cases) == 0:  # nobody has enough events for a held-out test event
            return pd.DataFrame(columns=["user_id", "n_events", "gate", "short_peak", "heldout_rank"])
        index = np.arange(len(cases))
        if len(index) > max_users:
            index = np.sort(np.random.default_rng(0).choice(index, max_users, replace=False))
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


def heldout_rank(active: ActiveRun, user: str) -> float:
    """Rank of the user's held-out item after the history before it (inf when not tested)."""
    held = heldout(active, user)
    if held is None:
        return float("inf")

    def compute() -> float:
        from ltsi.recommend import score_histories
        from ltsi.sequences import edit_history

        seqs = active.run.seqs
        u = seqs.user_index(user)
        target = seqs.items.encode([held["item_id"]], "item")
        _, ranks = score_histories(active.run.model, [edit_history(seqs, u, held["end"])], target)
        return float(ranks[0])

    return active.cached(("heldout-rank", user), compute)


def suggestions(active: ActiveRun) -> dict[str, tuple[str, str]]:
    """Four users worth a look: {label: (user_id, why)}."""
    table = user_overview(active)
    if table.empty:
        return {}
    for minimum in (15, 8, 1):  # prefer timelines long enough to show both kinds of interest
        if (table["n_events"] >= minimum).sum() >= 20:
            table = table[table["n_events"] >= minimum]
            break
    out = {}
    burst = table.assign(s=(1 - table["gate"]) * table["short_peak"]).nlargest(1, "s").iloc[0]
    out["Short-term burst"] = (
        burst["user_id"],
        f"{1 - burst['gate']:.0%} short-term; one recent event carries "
        f"{burst['short_peak']:.0%} of the short-term attention",
    )
    longest = table.nlargest(1, "gate").iloc[0]
    out["Long-term taste"] = (longest["user_id"], f"{longest['gate']:.0%} long-term interest")
    hits = table[table["heldout_rank"] <= 10]
    if len(hits):
        hit = hits.sort_values(["heldout_rank", "n_events"], ascending=[True, False]).iloc[0]
        out["Test hit"] = (hit["user_id"], f"the held-out next item was ranked #{int(hit['heldout_rank'])}")
    misses = table[table["heldout_rank"] > 10]
    if len(misses):
        miss = misses.iloc[(misses["heldout_rank"] - misses["heldout_rank"].median()).abs().argsort().iloc[0]]
        out["Test miss"] = (miss["user_id"], f"the held-out next item was ranked {fmt_rank(miss['heldout_rank'])}")
    return out


def explanation(active: ActiveRun, user: str, end: int | None, target: str | None, k: int = 10):
    """ltsi.explain.explain for one user and one target (default: the top recommendation), cached per run."""
    from ltsi.explain import explain

    r = active.run
    return active.cached(
        ("explain", user, end, target, k),
        lambda: explain(
            r.model,
            r.seqs,
            user,
            targets=[target] if target else None,
            end=end,
            items=r.items,
            n_steps=32,
            with_occlusion=False,
            k=k,
        ),
    )


def what_if(active: ActiveRun, user: str, end: int | None, removed: tuple[int, ...], item: str | None, k: int = 10):
    """ltsi.explain.what_if: the recommendations without the events at `removed`, cached per run."""
    from ltsi.explain import what_if as _what_if

    r = active.run
    return active.cached(
        ("what-if", user, end, removed, item, k),
        lambda: _what_if(r.model, r.seqs, user, remove=list(removed), item=item, k=k, end=end, items=r.items),
    )
