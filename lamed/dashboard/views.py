"""The dashboard's views of the data and its Jinja environment.

Turns :class:`~lamed.core.results.ExperimentCounts` into what the pages show (the
statistics of :mod:`lamed.dashboard.stats` per goal, a status per experiment, charts)
and renders ``dashboard_templates/`` with autoescaping on. Knows nothing of
HTTP. jinja2 is imported on first render only, so the Lambda track path,
which imports the routes, never loads it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, urlencode

from lamed.core.definitions import Definition
from lamed.core.events import PARTICIPATE
from lamed.core.results import ExperimentCounts, experiment_detail, iso_day
from lamed.dashboard import charts, stats

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "dashboard_templates"
COLLECTING, SIGNIFICANT, MISMATCH = "collecting", "significant", "sample-ratio mismatch"
# Single-segment dashboard routes: experiments with these names are linked in
# the query form, like names that need percent-encoding (see experiment_path).
RESERVED_SEGMENTS = {"login", "logout", "delete", "export", "assets", ".", ".."}


@dataclass
class GoalView:
    name: str
    stats: Optional[stats.GoalStats]  # None when the counts cannot be compared
    problem: Optional[str] = None
    rate_chart: str = ""
    daily_chart: str = ""

    @property
    def comparable(self) -> bool:
        return self.stats is not None and all(row.enough_data for row in self.stats.variants)


@dataclass
class ExperimentView:
    counts: ExperimentCounts
    control: Optional[str]
    trials: dict  # variant -> trials
    srm: stats.SrmResult
    expected_split: str = "an even split"  # what the SRM check compared against
    definition: Optional[Definition] = None  # runtime config, if the experiment has one
    goals: list = field(default_factory=list)
    trials_chart: str = ""

    @property
    def name(self) -> str:
        return self.counts.name

    @property
    def variants(self) -> list[str]:
        return self.counts.variants

    @property
    def status(self) -> str:
        if self.srm.mismatch:
            return MISMATCH
        if any(row.significant for goal in self.goals if goal.stats for row in goal.stats.variants):
            return SIGNIFICANT
        return COLLECTING

    @property
    def best(self) -> Optional[tuple[str, str, float]]:
        """(goal, variant, probability to be best): the clearest leader among
        the goals with enough data to compare, or None."""
        leaders = [
            (goal.name, row.label, row.prob_best)
            for goal in self.goals
            if goal.comparable
            for row in [max(goal.stats.variants, key=lambda r: r.prob_best)]
        ]
        return max(leaders, key=lambda leader: leader[2], default=None)


def experiment_view(
    counts: ExperimentCounts,
    control: Optional[str] = None,
    with_charts: bool = False,
    definition: Optional[Definition] = None,
) -> ExperimentView:
    """Every figure the pages show for one experiment.

    ``control`` defaults to the definition's control, else the first variant.
    The SRM check compares the trials with the definition's weights when every
    variant seen has a positive weight there, else with an even split.
    """
    variants = counts.variants
    if control not in variants:
        marked = definition.control if definition else None
        control = marked if marked in variants else (variants[0] if variants else None)
    trials = {variant: counts.count(PARTICIPATE, variant) for variant in variants}
    weights, expected = _expected_split(variants, definition)
    srm = stats.sample_ratio_mismatch(list(trials.values()), weights)
    view = ExperimentView(counts, control, trials, srm, expected, definition)
    view.goals = [_goal_view(counts, goal, control, trials, with_charts) for goal in counts.goals]
    if with_charts:
        view.trials_chart = _daily_chart(counts, PARTICIPATE, "Trials per day")
    return view


def lifecycle(definition: Optional[Definition]) -> Optional[str]:
    """What the list shows of a definition: nothing while it simply runs."""
    if definition is None or definition.status == "running":
        return None
    if definition.status == "stopped" and definition.winner:
        return f"stopped: {definition.winner} wins"
    return definition.status


def weight_shares(definition: Definition) -> list[tuple[str, float]]:
    """(variant, share of traffic in percent), in the definition's order."""
    total = sum(definition.variants.values())
    return [(variant, 100.0 * weight / total) for variant, weight in definition.variants.items()]


def _expected_split(variants: list, definition: Optional[Definition]) -> tuple[list, str]:
    configured = [definition.variants.get(variant, 0) for variant in variants] if definition else []
    if configured and all(weight > 0 for weight in configured):
        return configured, "the configured weights"
    return [1.0] * len(variants), "an even split"


def _goal_view(counts: ExperimentCounts, goal: str, control: str, trials: dict, with_charts: bool) -> GoalView:
    rows = [(variant, counts.count(goal, variant), trials[variant]) for variant in counts.variants]
    over = [label for label, successes, n in rows if successes > n]
    if over:
        problem = f"more conversions than trials for {', '.join(over)}: were participations lost?"
        return GoalView(goal, None, problem)
    view = GoalView(goal, stats.summarize_goal(rows, control))
    if with_charts:
        bars = [charts.RateBar(r.label, r.rate, r.rate_low, r.rate_high) for r in view.stats.variants]
        view.rate_chart = charts.rate_chart(bars, f"Conversion rate of {goal}, 95% interval")
        view.daily_chart = _daily_chart(counts, goal, f"Conversions per day: {goal}")
    return view


def _daily_chart(counts: ExperimentCounts, event: str, title: str) -> str:
    days = charts.day_range([iso_day(day) for day, _, _ in counts.daily])
    per_day = {(iso_day(day), variant): n for (day, ev, variant), n in counts.daily.items() if ev == event}
    series = [(variant, [per_day.get((day, variant), 0) for day in days]) for variant in counts.variants]
    return charts.daily_chart(days, series, title)


# -- exports ------------------------------------------------------------------

CSV_COLUMNS = (
    "namespace", "experiment", "goal", "variant", "is_control", "trials", "successes", "rate", "rate_low",
    "rate_high", "uplift", "uplift_low", "uplift_high", "z", "p_value", "prob_beat_control", "prob_best",
    "enough_data", "significant", "srm_p_value",
)  # fmt: skip


def export_json(view: ExperimentView) -> dict:
    """The results API's detail plus every figure the page shows."""
    return {
        **experiment_detail(view.counts),
        "control": view.control,
        "status": view.status,
        "srm": {"chi2": view.srm.chi2, "p_value": view.srm.p_value, "mismatch": view.srm.mismatch},
        "statistics": [
            {
                "goal": goal.name,
                "problem": goal.problem,
                "variants": goal.stats.to_dict()["variants"] if goal.stats else [],
            }
            for goal in view.goals
        ],
    }


def export_csv(view: ExperimentView) -> str:
    """One row per goal and variant; cells that a spreadsheet would run as a
    formula are prefixed with a quote."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for goal in view.goals:
        for row in goal.stats.variants if goal.stats else []:
            values = {**vars(row), "namespace": view.counts.namespace, "experiment": view.name}
            values.update(goal=goal.name, variant=row.label, srm_p_value=view.srm.p_value)
            writer.writerow([_csv_cell(values[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


# -- URLs -----------------------------------------------------------------------


def experiment_path(root: str, name: str, namespace: str, **params: str) -> str:
    """Link to an experiment's page: ``<root>/<name>`` when the name is a
    plain path segment, else ``<root>?experiment=<name>``. Percent-encoded
    path parameters are not reliable (API Gateway hands them to Lambda still
    encoded, and a ``%2F`` may not route at all); query strings are."""
    query = {"namespace": namespace, **{key: value for key, value in params.items() if value}}
    if quote(name, safe="") != name or name in RESERVED_SEGMENTS:
        return f"{root}?{urlencode({'experiment': name, **query})}"
    return f"{root}/{quote(name, safe='')}?{urlencode(query)}"


def action_path(root: str, action: str, **params: str) -> str:
    return f"{root}/{action}?{urlencode(params)}"


# -- formatting -----------------------------------------------------------------


def percent(value: Optional[float], digits: int = 2) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def signed_percent(value: Optional[float], digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:+.{digits}f}%"


def probability(value: Optional[float]) -> str:
    """A probability to one decimal of a percent, never rounded to a certainty."""
    if value is None:
        return "—"
    if value > 0.999:
        return "> 99.9%"
    return "< 0.1%" if value < 0.001 else percent(value, 1)


def p_value(value: Optional[float]) -> str:
    if value is None:
        return "—"
    return "< 0.0001" if value < 0.0001 else f"{value:.4f}"


# -- rendering ------------------------------------------------------------------


@lru_cache(maxsize=1)
def environment():
    import jinja2  # lazily: the track path must not import it

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(percent=percent, signed_percent=signed_percent, p_value=p_value, probability=probability)
    env.globals.update(experiment_path=experiment_path, action_path=action_path, COLLECTING=COLLECTING)
    env.globals.update(SIGNIFICANT=SIGNIFICANT, MISMATCH=MISMATCH, MIN_TRIALS=stats.MIN_TRIALS)
    env.globals.update(lifecycle=lifecycle, weight_shares=weight_shares)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def static_file(name: str) -> Optional[str]:
    """A file of ``dashboard_templates/static`` (CSS), or None."""
    path = TEMPLATES_DIR / "static" / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return None
    return path.read_text(encoding="utf-8")
