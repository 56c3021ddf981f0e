"""A value goal on the dashboard and in the exports (issue 23): its own
figures from lamed.stats.means, under new keys (``value_statistics``,
``values``, CSV rows with ``metric`` = value) so that readers of Lamed's
shape see the counts as before; adjusted and decided like any goal."""

from __future__ import annotations

import csv
import io
import json
import random
import time

from test_dashboard import client, cookie, page  # noqa: F401  (fixtures)

from lamed.core.definitions import definition_from_dict
from lamed.core.events import Event, check_value
from lamed.dashboard.views import VALUE, experiment_view, recent_trials_per_day, value_arms
from lamed.stats.decision import SHIP
from lamed.stats.means import summarize_value_goal
from lamed.stats.summary import adjust_comparisons
from lamed.store.definitions import DefinitionStore

DAY = 86400


def seed_values(store, experiment: str, arms: dict, goal: str = "purchase", days: int = 3, seed: int = 1) -> dict:
    """{variant: (participants, purchase rate, mean order)}: participants over
    ``days`` days, some buying once with a lognormal order value (cents);
    returns the values counted, per variant."""
    draw = random.Random(seed)
    start = time.time() - (days - 1) * DAY
    counted: dict = {}
    for variant, (participants, rate, mean) in arms.items():
        for day in range(days):
            events = []
            for i in range(day, participants, days):
                events.append(Event("alephbet", experiment, variant, "participate", f"{variant}{i}"))
                if draw.random() < rate:
                    value = round(draw.lognormvariate(0, 0.6) * mean, 2)
                    events.append(Event("alephbet", experiment, variant, goal, f"{variant}{i}", check_value(value)))
                    counted.setdefault(variant, []).append(value)
            store.track_many(events, now=start + day * DAY)
    return counted


def test_a_value_goal_is_judged_on_value_per_participant(fake_store):
    counted = seed_values(fake_store, "shop", {"control": (3000, 0.06, 40.0), "B": (3000, 0.10, 40.0)})
    counts = fake_store.experiment("alephbet", "shop")
    view = experiment_view(counts)
    (goal,) = view.goals
    assert goal.kind == VALUE and view.value_goals == [goal] and view.conversion_goals == []
    rows = {row.label: row for row in goal.stats.variants}
    control, variant = rows["control"], rows["B"]
    assert control.participants == 3000 and control.conversions == len(counted["control"])
    assert abs(control.total_value - sum(counted["control"])) < 1e-6
    assert abs(variant.value_per_participant - sum(counted["B"]) / 3000) < 1e-9
    arms, pace = value_arms(counts, "purchase", view.trials), recent_trials_per_day(counts)
    expected = summarize_value_goal(arms, "control", plan=view.plan, trials_per_day=pace)
    assert goal.stats == adjust_comparisons([expected], view.plan)[0]
    assert variant.significant
    assert view.decisions[0].kind == SHIP and view.decisions[0].decision.variant == "B"
    assert view.decisions[0].text.startswith("Ship B: +")


def test_holm_counts_value_goals_in_the_family_and_primary_goal_may_name_one(fake_store):
    seed_values(fake_store, "mixed", {"control": (3000, 0.06, 40.0), "B": (3000, 0.10, 40.0)})
    fake_store.track_many([Event("alephbet", "mixed", "B", "signup", f"B{i}") for i in range(30)])
    counts = fake_store.experiment("alephbet", "mixed")
    definition = definition_from_dict("mixed", {"variants": {"control": 1, "B": 1}, "primary_goal": "purchase"})
    view = experiment_view(counts, definition=definition)
    assert [goal.kind for goal in view.goals] == ["value", "conversion"]
    assert view.comparisons == 2
    value_row = next(row for row in view.value_goals[0].stats.variants if row.label == "B").comparison
    assert value_row.adjusted_p_value == min(1.0, 2 * value_row.sequential_p_value)  # Holm over 2: the smaller doubled
    assert [line.goal for line in view.decisions] == ["purchase"]


def test_exports_carry_the_value_figures_under_new_keys(client, cookie, fake_store):  # noqa: F811
    seed_values(fake_store, "shop", {"control": (900, 0.08, 25.0), "B": (900, 0.08, 30.0)})
    fake_store.track_many([Event("alephbet", "shop", "B", "signup", f"B{i}") for i in range(10)])
    document = json.loads(client.http.get("/dashboard/export?experiment=shop&format=json", headers=cookie).body)
    assert [goal["goal"] for goal in document["goals"]] == ["purchase", "signup"]  # Lamed's shape: counts
    assert set(document["goals"][0]["results"][0]) == {"label", "successes", "trials"}
    assert [goal["goal"] for goal in document["statistics"]] == ["signup"]
    (value_goal,) = document["value_statistics"]
    assert value_goal["goal"] == "purchase"
    rows = {row["label"]: row for row in value_goal["variants"]}
    sums = {row["label"]: row for row in document["values"][0]["results"]}
    for label in ("control", "B"):
        assert rows[label]["participants"] == sums[label]["trials"] == 900
        assert rows[label]["total_value"] == sums[label]["sum"] == sums[label]["sum_micro"] / 1e6
        assert rows[label]["value_per_participant"] == rows[label]["total_value"] / 900
    days = {point["day"] for point in value_goal["daily_value_per_participant"]}
    assert len(days) == 3
    csv_rows = list(csv.DictReader(io.StringIO(client.http.get(
        "/dashboard/export?experiment=shop&format=csv", headers=cookie).body.decode())))  # fmt: skip
    value_rows = [row for row in csv_rows if row["metric"] == "value"]
    assert sorted(row["variant"] for row in value_rows) == ["B", "control"]
    assert all(row["rate"] == "" and float(row["value_per_participant"]) > 0 for row in value_rows)
    assert [row["goal"] for row in csv_rows if row["metric"] == "conversion"] == ["signup", "signup"]


def test_the_page_shows_the_value_table_and_chart(client, cookie, fake_store):  # noqa: F811
    seed_values(fake_store, "shop", {"control": (900, 0.08, 25.0), "B": (900, 0.08, 30.0)})
    DefinitionStore(fake_store.client, fake_store.keys).put(
        "alephbet", definition_from_dict("shop", {"variants": {"control": 1, "B": 1}, "primary_goal": "purchase"})
    )
    html = page(client, "/dashboard", cookie, experiment="shop")
    assert 'data-kind="value"' in html and "Value per participant" in html
    assert "No goals yet" not in html
    assert html.count("<svg") == 2  # trials per day, value per participant per day


def test_lamed_results_shows_a_value_goal(store, redis_url):
    from click.testing import CliRunner

    from lamed.cli.main import main

    seed_values(store, "shop", {"control": (900, 0.09, 25.0), "B": (900, 0.2, 40.0)})
    shown = CliRunner().invoke(main, ["results", "--experiment", "shop"], env={"LAMED_REDIS_URL": redis_url})
    assert shown.exit_code == 0, shown.output
    table = shown.output.split("decision:")[0].splitlines()
    assert table[2].split() == [
        "variant",
        "participants",
        "conversions",
        "value/participant",
        "uplift",
        "(interval)",
        "p",
    ]
    assert table[3].split()[:3] == ["B", "900", str(store.experiment("alephbet", "shop").count("purchase", "B"))]
    assert "decision: Ship B: +" in shown.output
