"""Wording shared by the views, the figures and the HTML report, in plain sentences (pure: no Streamlit).

So that a page reads naturally for any log, including tiny ones: "1 row" / "2 rows", "under 1 s".
"""

from __future__ import annotations

import math
import re

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


def fmt_rank(rank: float | None) -> str:
    """'#3', '#1,204', or 'not ranked' (no rank, or an infinite one: the user was not tested)."""
    return "not ranked" if rank is None or not math.isfinite(rank) else f"#{int(rank):,}"


def gate_words(g: float) -> str:
    """The gate in plain words, told as the user's overall mix, so that it never reads as one item's split.

    The gate weighs the two kinds of interest before any item is scored; one item's score can still owe
    more to either kind (and to the counts part), which `split_words` tells. Shown as help, not as the story.
    """
    return (
        f"Overall mix for this user: {g:.0%} long-term interest (the whole history) and {1 - g:.0%} short-term "
        "interest (the last few events), the same mix for every item. One item's score can still owe more to "
        "either kind, or to how often items follow each other and how popular they are: the sentence about "
        "the item says which."
    )


def small_catalogue_note(n_items: int, k: int = METRIC_K) -> str | None:
    """What to say instead of reading the @k metrics when the catalogue has no more than k items (else None)."""
    if n_items > k:
        return None
    return (
        f"The catalogue has only {plural(n_items, 'item')}, not more than {k}: every model puts the held-out item "
        f"in its top {k}, so HR@{k} is 1 for all of them and NDCG@{k} / MRR@{k} only compare ranks among "
        f"{plural(n_items, 'item')}. These numbers say little about the model here; a log with more than {k} "
        "items is needed to compare models."
    )


def short_window_note(window: int, max_len: int, longest: int) -> str | None:
    """A note when the chosen short-term window is longer than what it can see (else None).

    `max_len` is the history length the model reads, `longest` the longest user history in the log.
    """
    reach = min(max_len, longest)
    if window <= reach:
        return None
    if max_len <= longest:
        return (
            f"The short-term window ({plural(window, 'event')}) is longer than the history length "
            f"({plural(max_len, 'event')}): the model is trained with a window of {max_len}, the whole history "
            "it reads, so short-term and long-term interest see the same events."
        )
    return (
        f"The short-term window ({plural(window, 'event')}) is longer than the longest history in this log "
        f"({plural(longest, 'event')}): the short-term attention sees every user's whole history, so short-term "
        "and long-term interest see the same events."
    )


# ---------------------------------------------------------------------------------------------
# Why an item scored as it did (an `ltsi.explain` Explanation.targets row)


def _part(row, column: str) -> float:
    """A number of the row, 0 when the column is absent (runs from before the counts part) or not a number."""
    try:
        value = float(row[column])
    except (KeyError, TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def split_words(target, item: str) -> str:
    """An `Explanation.targets` row's score split in plain words, for the item named `item`.

    The parts (each compared with knowing nothing: no history, no training counts): long-term interest, short-term
    interest and, for a model with the counts part, the recent items' transitions (how often the item
    directly followed their items in training) and the item's popularity in training. A row without
    counts (an older run, the "no transitions" ablation) is told as the interest split alone.
    """
    long_part, short_part = _part(target, "long_part"), _part(target, "short_part")
    transitions, popularity = _part(target, "transitions_part"), _part(target, "popularity_part")
    if transitions == 0 and popularity == 0:
        nothing = "compared with knowing nothing about the user"
        parts = f"(long-term {long_part:+.2f}, short-term {short_part:+.2f}, {nothing})"
        if long_part == 0 and short_part == 0:
            return f"Neither kind of interest moved the score of {item}."
        if long_part * short_part >= 0:  # both pushed the same way: how the push divides
            share = _part(target, "long_share")
            verb = "raised" if long_part + short_part > 0 else "lowered"
            return (
                f"For {item}, {share:.0%} of what {verb} its score came from long-term interest and "
                f"{1 - share:.0%} from short-term interest {parts}."
            )
        up, down = ("long-term", "short-term") if long_part > 0 else ("short-term", "long-term")
        return f"For {item}, {up} interest raised its score and {down} interest lowered it {parts}."
    named = [
        ("long-term interest", long_part),
        ("short-term interest", short_part),
        ("the recent items' transitions", transitions),
        ("its popularity", popularity),
    ]
    name, value = max(named, key=lambda part: abs(part[1]))
    return (
        f"For {item}, its score came from long-term interest {long_part:+.2f}, short-term interest "
        f"{short_part:+.2f}, the recent items' transitions {transitions:+.2f} (how often it came right after "
        f"the last items in training) and its popularity {popularity:+.2f} (how often it occurs in training), "
        f"each compared with knowing nothing about the user. {name[0].upper()}{name[1:]} moved it "
        f"most ({'up' if value > 0 else 'down'})."
    )


# The few terms the Users page cannot do without, in plain words (its "What do these words mean?" popover)
GLOSSARY = {
    "Long-term interest": "What the user has liked over their whole history: their lasting taste.",
    "Short-term interest": "What the user did in their last few events: what they are after right now.",
    "Overall mix": "How much the model listens to long-term versus short-term interest for this user, the same "
    "for every item it scores.",
    "Attention": "How much the model looked at each past event. Short-term attention covers the last few "
    "events; the long-term weights cover the whole history.",
    "Attribution": "How much one past event pushed the explained item's score up (positive) or down "
    "(negative), compared with knowing nothing about the user.",
    "Recent transitions": "How often, in the training data, the explained item came right after the user's "
    "last few items.",
    "Popularity": "How often the item occurs in the training data; it is the same for every user.",
    "Held-out event": "The user's last event, hidden from the model to test it: a good model ranks that item high.",
    "Rank": "The item's place in the model's list for this user: #1 is the first recommendation.",
    f"HR@{METRIC_K}": f"Hit rate: the share of users whose held-out item is in their top {METRIC_K}.",
    f"NDCG@{METRIC_K}": f"Like the hit rate, but a hit counts more the higher it is ranked (1 at #1, less "
    f"further down, 0 outside the top {METRIC_K}).",
}


# ---------------------------------------------------------------------------------------------
# Why training stopped (a run's training summary: Run.info["training"], ActiveRun.training)


def _stop(info: dict) -> tuple[str | None, bool, str]:
    """(stop reason value or None for runs that predate it, still improving, advice)."""
    reason = info.get("stop_reason")
    return (str(reason) if reason else None, bool(info.get("still_improving", False)), str(info.get("advice") or ""))


def stop_note(info: dict, epochs_done: int, beats_baselines: bool = False) -> tuple[str, str] | None:
    """(kind, words) on why training stopped; kind "warning" (train longer, or it diverged), "info" or
    "caption". None when the run does not say (runs from before the stop reason was stored).

    `beats_baselines` (`ltsi.quality.versus_baselines` is "beats"): a run cut short that already beats the
    simple baselines is not said to "may trail" them.
    """
    reason, improving, advice = _stop(info)
    epochs = plural(epochs_done, "epoch")
    best = f" (best epoch {info['best_epoch']})" if info.get("best_epoch") else ""
    if reason in ("budget", "epochs") and improving:
        ended = "the time budget" if reason == "budget" else "the last planned epoch"
        advice = advice or (f"The validation score was still improving when {ended} ended training: train longer.")
        how = (
            "Set a larger time budget (0 = until early stopping)"
            if reason == "budget"
            else "Raise Max. epochs (0 = planned from the log)"
        )
        if beats_baselines:
            words = (
                f"Not fully trained: stopped at {ended} after {epochs}. It already beats the simple baselines "
                f"and would likely get better with more training. {advice} {how}."
            )
        else:
            words = (
                f"Not fully trained: stopped at {ended} after {epochs}, and this model may trail the baselines. "
                f"{advice} {how}, or load the pre-trained demo model."
            )
        return "warning", words
    if reason == "budget":
        words = (
            f"Training stopped at the time budget after {epochs}; the validation score had already stopped "
            f"improving{best}, so a longer budget would likely change little."
        )
        return "info", words
    if reason == "epochs":
        return "caption", f"Training ran all {epochs}; the validation score had already stopped improving{best}."
    if reason == "converged":
        words = (
            f"Training converged: the validation score stopped improving{best}, so early stopping ended it "
            f"after {epochs}."
        )
        return "caption", words
    if reason == "requested":
        words = (
            f"Training was stopped by hand after {epochs}, so it may not have learned enough yet. Train again "
            "and let it run until early stopping (time budget 0), or load the pre-trained demo model."
        )
        return "info", words
    if reason == "diverged":
        return "warning", str(
            info.get("stopped")
            or "The training loss diverged; the best weights so far were kept. Try a lower learning rate."
        )
    if reason == "safety_cap":
        return "warning", (
            f"Training reached its safety cap after {epochs} while the validation score was still improving{best}. "
            f"{advice}"
        ).strip()
    return None


def below_baseline_why(info: dict) -> str | None:
    """Why LTSI may be below a baseline, from how its training ended; None when the stop note already says it
    (training ended while the validation score was still improving)."""
    reason, improving, _ = _stop(info)
    if reason in ("budget", "epochs") and improving:
        return None
    if reason in ("converged", "budget", "epochs"):
        ran = {
            "converged": "Training ran until the validation score stopped improving",
            "budget": "The validation score had stopped improving before the time budget ran out",
            "epochs": "The validation score had stopped improving before the last epoch",
        }[reason]
        return (
            f"{ran}, so more epochs would not help: on this log a simple baseline ranks the next item better "
            "(small or very regular logs often favour them). A larger log, or other settings (model size, "
            "history length), may."
        )
    if reason == "requested":
        return (
            "Training was stopped by hand, so it may not have learned enough yet. Train again and let it run "
            "until early stopping (time budget 0), or load the pre-trained demo model."
        )
    if reason == "diverged":
        return "Training diverged, so it kept the weights from before that. Train again with a lower learning rate."
    return (
        "It may not have learned enough yet. Train with more epochs (and no time budget), or load the pre-trained "
        "demo model."
    )


# ---------------------------------------------------------------------------------------------
# Text from the data (ids, titles, categories, event types, file and column names) shown as text

# Markdown and HTML specials, escaped with a backslash wherever they occur. Block syntax (headings, lists,
# quotes) only counts at the start of a line: newlines become spaces and a leading marker is escaped.
_MD_SPECIALS = frozenset("\\`*_{}[]<>!|~$&")
_WORD_JOINER = "\u2060"  # invisible: breaks the autolink patterns, which Streamlit applies after unescaping


def md_escape(value: object) -> str:
    """`value` as literal text inside Streamlit Markdown (st.markdown, captions, info boxes, labels, help).

    `![x](http://…)`, `[x](https://…)`, `**x**`, `<script>`, backticks, `$math$`, `:red[x]` and raw URLs render
    as the characters they are: specials get a backslash, a leading `#`, `-`, `+`, `=` or `1.` cannot start a
    block, and a word joiner (U+2060, invisible) after `://`'s colon, `www` and `@` keeps URLs and e-mail
    addresses from being turned into links. Use it for every piece of text that comes from the data.
    """
    text = " ".join(str(value).splitlines()) if value is not None else ""
    out = "".join("\\" + ch if ch in _MD_SPECIALS else ch for ch in text)
    out = re.sub(r"(?i)(www)(?=\.)", "\\1" + _WORD_JOINER, out)
    out = out.replace("://", ":" + _WORD_JOINER + "//").replace("@", "@" + _WORD_JOINER)
    if out[:1] in ("#", "-", "+", "="):
        out = "\\" + out
    else:
        out = re.sub(r"^(\s*\d+)([.)])", r"\1\\\2", out)
    return out


def file_slug(text: str, default: str = "run") -> str:
    """A piece of a download's file name from data (a run name, a user id): letters and digits only, at most 40."""
    return "".join(ch if ch.isalnum() else "_" for ch in str(text).lower()).strip("_")[:40] or default
