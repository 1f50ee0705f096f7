"""A run's catalogue: search by part of an id or title, labels and event counts, without a loop over the items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ltsi.catalogue import Catalogue
from ltsi.sequences import build_sequences


@pytest.fixture
def catalogue() -> Catalogue:
    # item popularity: B7 3 events, A10 2, C3 2, a77 1 -> vocabulary order B7, A10, C3, a77 (ties by id)
    events = pd.DataFrame(
        {
            "user_id": ["u1"] * 4 + ["u2"] * 4,
            "item_id": ["B7", "A10", "C3", "B7", "B7", "C3", "A10", "a77"],
            "timestamp": pd.to_datetime(np.arange(8), unit="D", utc=True),
        }
    )
    items = pd.DataFrame(
        {
            "item_id": ["A10", "B7", "C3", "Z9"],  # Z9 is not in the log; a77 has no row
            "title": ["The Big Lebowski", "Blade Runner", pd.NA, "Unused"],
        }
    )
    return Catalogue.of(build_sequences(events), items)


def test_ids_titles_and_events_follow_the_vocabulary(catalogue):
    assert catalogue.ids.to_pylist() == ["B7", "A10", "C3", "a77"]
    assert catalogue.titles.to_pylist() == ["Blade Runner", "The Big Lebowski", None, None]
    assert catalogue.events.tolist() == [3, 2, 2, 1]
    assert catalogue.first(2) == ["B7", "A10"] and len(catalogue) == 4


def test_labels_counts_and_membership(catalogue):
    assert catalogue.label("A10") == "The Big Lebowski (A10)"
    assert catalogue.label("C3") == "C3"  # no title
    assert catalogue.label("Z9") == "Z9"  # in the item table, not in the model
    assert catalogue.events_of("B7") == 3 and catalogue.events_of("nope") == 0
    assert catalogue.has("a77") and not catalogue.has("Z9") and not catalogue.has("<pad>")
    assert catalogue.positions(["C3", "nope", "B7"]).tolist() == [2, -1, 0]


def test_search_matches_ids_and_titles_in_any_case(catalogue):
    assert catalogue.search("a", 10) == (["B7", "A10", "a77"], 3)  # Blade, A10 / Lebowski, a77
    assert catalogue.search("BLADE", 10) == (["B7"], 1)
    assert catalogue.search("7", 10) == (["B7", "a77"], 2)
    assert catalogue.search("nothing", 10) == ([], 0)


def test_search_puts_the_preferred_matches_first_and_counts_all(catalogue):
    found, total = catalogue.search("a", 2, first=["a77", "C3", "nope"])  # C3 and nope do not match
    assert found == ["a77", "B7"] and total == 3
