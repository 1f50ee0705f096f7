"""The synthetic generator: seeded, and its planted causes are what it says they are."""

import pandas as pd
import pytest

from ltsi.cli import app
from ltsi.errors import LTSIError
from ltsi.synth import generate, write_log


@pytest.fixture(scope="module")
def log():
    return generate(n_users=60, n_items=240, n_categories=6, mean_events=30, seed=3)


def test_same_seed_same_log_other_seed_other_log(log):
    again = generate(n_users=60, n_items=240, n_categories=6, mean_events=30, seed=3)
    pd.testing.assert_frame_equal(log.events, again.events)
    pd.testing.assert_frame_equal(log.causes, again.causes)
    other = generate(n_users=60, n_items=240, n_categories=6, mean_events=30, seed=4)
    assert not log.events["item_id"].equals(other.events["item_id"])


def test_planted_cause_is_an_earlier_event_whose_companion_is_the_final_item(log):
    companion = log.items.set_index("item_id")["companion_id"]
    category = log.items.set_index("item_id")["category"]
    assert len(log.causes) == 60 and set(log.causes["kind"]) == {"short-term", "long-term"}
    distances: dict[str, list[int]] = {}
    for row in log.causes.itertuples():
        history = log.events[log.events["user_id"] == row.user_id]
        assert row.target_position == len(history) - 1
        assert history["item_id"].iat[-1] == row.target_item
        (cause,) = row.cause_positions
        assert 0 <= cause < row.target_position
        cause_item = history["item_id"].iat[cause]
        assert companion[cause_item] == row.target_item
        assert category[cause_item] == category[row.target_item]
        distances.setdefault(row.kind, []).append(row.target_position - cause)
        if row.kind == "short-term":  # a carted item, bought as an accessory a few events later
            assert history["event"].iat[cause] == "cart" and row.target_position - cause >= 2
        else:  # a purchase the user refills much later
            assert history["event"].iat[cause] == "purchase"
    # long-term causes lie far back (everyone buys early), short-term ones within a burst
    assert pd.Series(distances["long-term"]).median() >= 10 > pd.Series(distances["short-term"]).median()


def test_events_are_chronological_with_view_cart_purchase(log):
    for _, history in log.events.groupby("user_id"):
        assert history["timestamp"].is_monotonic_increasing
    shares = log.events["event"].value_counts(normalize=True)
    assert set(shares.index) == {"view", "cart", "purchase"}
    assert shares["view"] > shares["cart"] and shares["view"] > shares["purchase"]


def test_bad_arguments_are_an_ltsi_error():
    with pytest.raises(LTSIError, match="n_categories"):
        generate(n_users=10, n_items=10, n_categories=8)


def test_write_log_to_folder_and_to_csv_name(tmp_path, log):
    folder = write_log(log, tmp_path / "demo")
    assert [p.name for p in folder] == ["events.csv", "items.csv", "causes.csv"]
    events = pd.read_csv(folder[0])
    assert list(events.columns) == ["user_id", "item_id", "timestamp", "event", "price"]
    assert len(events) == len(log.events)
    named = write_log(log, tmp_path / "shop.csv")
    assert [p.name for p in named] == ["shop.csv", "shop_items.csv", "shop_causes.csv"]


def test_cli_synth_writes_a_log_that_validates(tmp_path):
    from typer.testing import CliRunner

    runner = CliRunner()
    result = runner.invoke(
        app, ["synth", "--users", "20", "--items", "100", "--out", str(tmp_path / "s"), "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output
    result = runner.invoke(app, ["validate", str(tmp_path / "s" / "events.csv"), "--json"])
    assert result.exit_code == 0, result.output
    assert '"n_users": 20' in result.output


def test_min_events_allows_short_sessions_and_stays_seeded():
    short = generate(n_users=200, n_items=120, n_categories=4, mean_events=4, min_events=2, seed=5)
    lengths = short.events.groupby("user_id").size()
    assert lengths.min() >= 2 and (lengths < 8).mean() > 0.5 and lengths.mean() < 8
    again = generate(n_users=200, n_items=120, n_categories=4, mean_events=4, min_events=2, seed=5)
    pd.testing.assert_frame_equal(short.events, again.events)
    pd.testing.assert_frame_equal(short.causes, again.causes)
    companion = short.items.set_index("item_id")["companion_id"]
    for row in short.causes.itertuples():  # even a two-event history ends with a planted event
        history = short.events[short.events["user_id"] == row.user_id]
        (cause,) = row.cause_positions
        assert 0 <= cause < row.target_position == len(history) - 1
        assert companion[history["item_id"].iat[cause]] == row.target_item
    long = generate(n_users=5, n_items=120, n_categories=4, mean_events=30, min_events=200, seed=5)
    assert long.events.groupby("user_id").size().min() >= 200
    with pytest.raises(LTSIError, match="min_events"):
        generate(n_users=5, n_items=120, n_categories=4, min_events=1)


def test_default_min_events_keeps_the_old_clip(log):
    assert log.events.groupby("user_id").size().min() >= 8
    pd.testing.assert_frame_equal(
        log.events, generate(n_users=60, n_items=240, n_categories=6, mean_events=30, seed=3, min_events=8).events
    )


def test_cli_synth_min_events(tmp_path):
    from typer.testing import CliRunner

    result = CliRunner().invoke(
        app,
        [
            "synth",
            "--users",
            "30",
            "--items",
            "60",
            "--categories",
            "4",
            "--mean-events",
            "4",
            "--min-events",
            "2",
            "--out",
            str(tmp_path / "short.csv"),
            "--seed",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    lengths = pd.read_csv(tmp_path / "short.csv").groupby("user_id").size()
    assert lengths.min() >= 2 and lengths.min() < 8
    result = CliRunner().invoke(app, ["synth", "--users", "3", "--min-events", "1", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "min_events" in result.output


def test_write_log_refuses_existing_files_unless_asked(tmp_path, log):
    events = tmp_path / "demo" / "events.csv"
    events.parent.mkdir()
    events.write_text("my precious real log\n")
    with pytest.raises(LTSIError, match=r"events.csv already exists.*--overwrite"):
        write_log(log, tmp_path / "demo")
    assert events.read_text() == "my precious real log\n"
    assert not (tmp_path / "demo" / "items.csv").exists()
    write_log(log, tmp_path / "demo", overwrite=True)
    assert len(pd.read_csv(events)) == len(log.events)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(LTSIError, match="is a file"):
        write_log(log, tmp_path / "afile")
    with pytest.raises(LTSIError, match="is a file, not a folder"):
        write_log(log, tmp_path / "afile" / "shop.csv")


def test_cli_synth_refuses_an_existing_log(tmp_path):
    from typer.testing import CliRunner

    runner = CliRunner()
    target = tmp_path / "shop.csv"
    target.write_text("my precious real log\n")
    args = ["synth", "--users", "20", "--items", "100", "--out", str(target)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "already exists" in result.stderr
    assert target.read_text() == "my precious real log\n"
    result = runner.invoke(app, [*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert target.read_text() != "my precious real log\n"
