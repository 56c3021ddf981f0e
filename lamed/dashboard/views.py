"""The dashboard's views of the data and its Jinja environment.

Turns :class:`~lamed.core.results.ExperimentCounts` into what the pages show (the
statistics of :mod:`lamed.stats` per goal, a status per experiment, its decision, charts)
and renders ``dashboard_templates/`` with autoescaping on. Knows nothing of
HTTP. jinja2 is imported on first render only, so the Lambda track path,
which imports the routes, never loads it.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, urlencode

from lamed.core.definitions import Definition
from lamed.core.events import PARTICIPATE, VALUE_UNIT
from lamed.core.results import ExperimentCounts, experiment_detail, in_units, iso_day
from lamed.core.settings import BENJAMINI_HOCHBERG, DEFAULTS, FIXED, HOLM, SEQUENTIAL, Settings
from lamed.dashboard import charts
from lamed.stats import decision as deciding
from lamed.stats.frequentist import MIN_TRIALS
from lamed.stats.inputs import DEFAULT_PLAN, Plan
from lamed.stats.means import MIN_CONVERSIONS, MeanArm, summarize_value_goal
from lamed.stats.power import POWER
from lamed.stats.sequential import MIN_SEQUENTIAL_OUTCOMES
from lamed.stats.srm import SrmResult, sample_ratio_mismatch
from lamed.stats.summary import GoalStats, adjust_comparisons, summarize_goal

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "dashboard_templates"
COLLECTING, SIGNIFICANT, MISMATCH = "collecting", "significant", "sample-ratio mismatch"
# Single-segment dashboard routes: experiments with these names are linked in
# the query form, like names that need percent-encoding (see experiment_path).
RESERVED_SEGMENTS = {"login", "logout", "delete", "export", "assets", ".", ".."}
# Without a definition, a variant of one of these names (any case) is the control.
CONTROL_NAMES = ("control", "original", "baseline", "default")
PACE_DAYS = 7  # days_remaining assumes the trial rate of the experiment's last 7 days
TEST_NAMES = {SEQUENTIAL: "always-valid sequential test", FIXED: "fixed-horizon z-test"}
CORRECTION_NAMES = {HOLM: "Holm–Bonferroni", BENJAMINI_HOCHBERG: "Benjamini–Hochberg"}


CONVERSION, VALUE = "conversion", "value"  # what a goal's figures are about: its rate, or its value per participant


@dataclass
class GoalView:
    name: str
    stats: Optional[GoalStats[Any]]  # None when the counts cannot be compared
    problem: Optional[str] = None
    rate_chart: str = ""
    daily_chart: str = ""
    kind: str = CONVERSION

    @property
    def comparable(self) -> bool:
        return self.stats is not None and all(row.enough_data for row in self.stats.variants)


@dataclass
class GoalDecision:
    """A decision (lamed.stats.decision) and its sentence: one line per goal,
    or the experiment's as a whole."""

    decision: deciding.Decision
    text: str

    @property
    def kind(self) -> str:
        return self.decision.kind

    @property
    def goal(self) -> Optional[str]:
        return self.decision.goal

    def to_dict(self) -> dict:
        """The decision object of the JSON export, the API, ``lamed results`` and notifications."""
        decision = self.decision
        return {
            "kind": decision.kind,
            "goal": decision.goal,
            "variant": decision.variant,
            "uplift": decision.uplift,
            "interval": list(decision.interval) if decision.interval else None,
            "days_remaining": decision.days_remaining,
            "decision_sample_per_variant": decision.decision_sample_per_variant,
            "text": self.text,
        }


@dataclass
class ExperimentView:
    counts: ExperimentCounts
    control: Optional[str]
    trials: dict  # variant -> trials
    srm: SrmResult
    expected_split: str = "an even split"  # what the SRM check compared against
    definition: Optional[Definition] = None  # runtime config, if the experiment has one
    plan: Plan = DEFAULT_PLAN
    goals: list = field(default_factory=list)
    decisions: list = field(default_factory=list)  # GoalDecision: the primary goal's, else one per goal
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
    def primary_goal(self) -> Optional[str]:
        """The definition's primary goal, else the only goal, else None."""
        named = self.definition.primary_goal if self.definition else None
        if named:
            return named
        return self.goals[0].name if len(self.goals) == 1 else None

    @property
    def decision_text(self) -> str:
        """The decision in words, one sentence per line of it."""
        return " ".join(line.text for line in self.decisions)

    @property
    def decision(self) -> GoalDecision:
        """The experiment's decision (see lamed.stats.decision.experiment_decision),
        worded as all its lines."""
        return GoalDecision(
            deciding.experiment_decision([line.decision for line in self.decisions]), self.decision_text
        )

    @property
    def conversion_goals(self) -> list:
        return [goal for goal in self.goals if goal.kind == CONVERSION]

    @property
    def value_goals(self) -> list:
        """Goals that carry a value: judged on value per participant (own table)."""
        return [goal for goal in self.goals if goal.kind == VALUE]

    @property
    def comparisons(self) -> int:
        """How many (variant, goal) comparisons the experiment has."""
        return sum(len(goal.stats.comparisons) for goal in self.goals if goal.stats)


def experiment_view(
    counts: ExperimentCounts,
    control: Optional[str] = None,
    with_charts: bool = False,
    definition: Optional[Definition] = None,
    settings: Settings = DEFAULTS,
) -> ExperimentView:
    """Every figure the pages show for one experiment.

    ``control`` defaults to the definition's control, else a variant named
    like a control (CONTROL_NAMES), else the first variant. The SRM check
    compares the trials with the definition's weights when every variant seen
    has a positive weight there, else with an even split. The deciding test
    is the definition's, else the settings'.
    """
    variants = counts.variants
    if control not in variants:
        control = default_control(variants, definition)
    trials = {variant: counts.count(PARTICIPATE, variant) for variant in variants}
    weights, expected = _expected_split(variants, definition)
    srm = sample_ratio_mismatch(list(trials.values()), weights)
    plan = plan_for(settings, definition.deciding_test if definition else None)
    view = ExperimentView(counts, control, trials, srm, expected, definition, plan)
    pace = recent_trials_per_day(counts)
    valued = set(counts.value_goals)
    goals = [
        (_value_goal_view if goal in valued else _goal_view)(counts, goal, control, trials, with_charts, plan, pace)
        for goal in counts.goals
    ]
    _adjust(goals, plan)
    view.goals = goals
    view.decisions = _decisions(view)
    if with_charts:
        view.trials_chart = _daily_chart(counts, PARTICIPATE, "Trials per day")
    return view


def plan_for(settings: Settings, deciding_test: Optional[str] = None) -> Plan:
    """The settings' plan; ``deciding_test`` (a definition's) overrides theirs."""
    return Plan(
        deciding_test=deciding_test or settings.deciding_test,
        alpha=settings.alpha,
        tuning=settings.sequential_tuning_parameter,
        mde=settings.mde,
        correction=settings.comparison_correction,
        family=settings.comparison_family,
    )


def default_control(variants: list, definition: Optional[Definition] = None) -> Optional[str]:
    """The definition's control, else a variant named like one, else the first."""
    marked = definition.control if definition else None
    if marked in variants:
        return marked
    named = [variant for variant in variants if variant.casefold() in CONTROL_NAMES]
    return named[0] if named else (variants[0] if variants else None)


def recent_trials_per_day(counts: ExperimentCounts) -> dict:
    """Trials per day per variant over the experiment's last PACE_DAYS days of
    counters (fewer while it is younger), ending at its newest day."""
    days = [day for day, event, _ in counts.daily if event == PARTICIPATE]
    if not days:
        return {}
    first, last = date.fromisoformat(iso_day(min(days))), date.fromisoformat(iso_day(max(days)))
    span = min(PACE_DAYS, (last - first).days + 1)
    window = {(last - timedelta(days=offset)).strftime("%Y%m%d") for offset in range(span)}
    totals: dict = {}
    for (day, event, variant), n in counts.daily.items():
        if event == PARTICIPATE and day in window:
            totals[variant] = totals.get(variant, 0) + n
    return {variant: n / span for variant, n in totals.items()}


def _adjust(goals: list, plan: Plan) -> None:
    """Adjusts the deciding p-values across the experiment's comparisons."""
    compared = [goal for goal in goals if goal.stats is not None]
    for goal, adjusted in zip(compared, adjust_comparisons([goal.stats for goal in compared], plan)):
        goal.stats = adjusted


def _decisions(view: ExperimentView) -> list:
    """The primary goal's decision, else one per goal."""
    by_name = {goal.name: goal for goal in view.goals}
    names = [view.primary_goal] if view.primary_goal else list(by_name)
    decisions = []
    for name in names:
        goal = by_name.get(name)
        decision = deciding.decide(goal.stats if goal else None, view.srm.mismatch, view.plan, name)
        decisions.append(GoalDecision(decision, decision_text(decision, name, view)))
    return decisions


def decision_text(decision: deciding.Decision, goal: str, view: ExperimentView) -> str:
    """The decision as one sentence."""
    kind, plan = decision.kind, view.plan
    if kind == deciding.CHECK_SPLIT:
        shown = p_value(view.srm.p_value)
        mismatch = f"sample-ratio mismatch (p {shown if shown.startswith('<') else '= ' + shown})"
        return f"Stop and check the traffic split: {mismatch}, so no figure can be trusted."
    if kind == deciding.NOT_ENOUGH_DATA:
        return f"Not enough data yet on {goal}."
    if kind in (deciding.SHIP, deciding.KEEP_CONTROL):
        low, high = decision.interval or (None, None)
        figures = (
            f"{signed_percent(decision.uplift)} on {goal}, interval {signed_percent(low)} to {signed_percent(high)}"
        )
        if kind == deciding.SHIP:
            return f"Ship {decision.variant}: {figures}."
        return f"Keep {view.control}: {decision.variant} does worse ({figures})."
    if kind == deciding.NO_DIFFERENCE:
        return f"No meaningful difference on {goal}: every variant is within ±{percent(plan.mde, 0)} of {view.control}."
    return keep_running_text(goal, decision.days_remaining, decision.decision_sample_per_variant)


def keep_running_text(goal: str, days_left: Optional[int], sample: Optional[float]) -> str:
    """How long is left, in words."""
    visitors = f"{visitors_count(sample)} visitors per variant"
    if days_left is None:
        if sample is None:
            return f"Keep running: no estimate yet of the time left on {goal}."
        return (
            f"Keep running: {goal} needs {visitors}; the time left is unknown (no trials in the last {PACE_DAYS} days)."
        )
    if days_left == 0:
        return f"Keep running: {goal} has the planned {visitors}; it should decide soon."
    return f"Keep running: about {day_count(days_left)} more to decide {goal} ({visitors})."


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


def _goal_view(
    counts: ExperimentCounts, goal: str, control: str, trials: dict, with_charts: bool, plan: Plan, pace: dict
) -> GoalView:
    rows = [(variant, counts.count(goal, variant), trials[variant]) for variant in counts.variants]
    over = [label for label, successes, n in rows if successes > n]
    if over:
        problem = f"more conversions than trials for {', '.join(over)}: were participations lost?"
        return GoalView(goal, None, problem)
    summary = summarize_goal(rows, control, confidence=1.0 - plan.alpha, plan=plan, trials_per_day=pace)
    view = GoalView(goal, summary)
    if with_charts:
        bars = [charts.RateBar(r.label, r.rate, r.rate_low, r.rate_high) for r in view.stats.variants]
        view.rate_chart = charts.rate_chart(bars, f"Conversion rate of {goal}, 95% interval")
        view.daily_chart = _daily_chart(counts, goal, f"Conversions per day: {goal}")
    return view


def value_arms(counts: ExperimentCounts, goal: str, trials: dict) -> list:
    """(variant, MeanArm) of a value goal: participants, the sums in units, conversions."""
    return [
        (variant, MeanArm(
            trials[variant],
            in_units(counts.value_sum(goal, variant)),
            counts.value_sum_of_squares(goal, variant) / VALUE_UNIT**2,
            counts.count(goal, variant),
        ))
        for variant in counts.variants
    ]  # fmt: skip


def _value_goal_view(
    counts: ExperimentCounts, goal: str, control: str, trials: dict, with_charts: bool, plan: Plan, pace: dict
) -> GoalView:
    """A goal with values, judged on value per participant (lamed.stats.means)."""
    arms = value_arms(counts, goal, trials)
    over = [label for label, arm in arms if arm.conversions > arm.n]
    if over:
        problem = f"more conversions than trials for {', '.join(over)}: were participations lost?"
        return GoalView(goal, None, problem, kind=VALUE)
    summary = summarize_value_goal(arms, control, confidence=1.0 - plan.alpha, plan=plan, trials_per_day=pace)
    view = GoalView(goal, summary, kind=VALUE)
    if with_charts:
        view.daily_chart = charts.daily_chart(*value_per_day(counts, goal), f"Value per participant per day: {goal}")
    return view


def value_per_day(counts: ExperimentCounts, goal: str) -> tuple[list, list]:
    """Days and, per variant, each day's value per participant (the day's sum
    over the day's participants; 0 on a day without participants), rounded
    to 6 decimals, as the chart and the JSON export show them."""
    days = charts.day_range([iso_day(day) for day, _, _ in counts.daily])
    raw_days = [day.replace("-", "") for day in days]
    series = []
    for variant in counts.variants:
        points = []
        for day in raw_days:
            n = counts.daily.get((day, PARTICIPATE, variant), 0)
            points.append(round(in_units(counts.value_sum(goal, variant, day)) / n, 6) if n else 0)
        series.append((variant, points))
    return days, series


def _daily_chart(counts: ExperimentCounts, event: str, title: str) -> str:
    days = charts.day_range([iso_day(day) for day, _, _ in counts.daily])
    per_day = {(iso_day(day), variant): n for (day, ev, variant), n in counts.daily.items() if ev == event}
    series = [(variant, [per_day.get((day, variant), 0) for day in days]) for variant in counts.variants]
    return charts.daily_chart(days, series, title)


# -- exports ------------------------------------------------------------------

CSV_COLUMNS = (
    "namespace", "experiment", "goal", "variant", "is_control", "trials", "successes", "rate", "rate_low",
    "rate_high", "uplift", "uplift_low", "uplift_high", "z", "p_value", "sequential_p_value",
    "sequential_uplift_low", "sequential_uplift_high", "adjusted_p_value", "deciding_test", "prob_beat_control",
    "prob_best", "enough_data", "significant", "sample_size_per_variant", "decision_sample_per_variant",
    "days_remaining", "srm_p_value", "primary_goal", "decision",
    # value goals (issue 23): "value" rows; rate columns stay empty on them
    "metric", "participants", "conversions", "total_value", "sum_of_squares", "value_per_participant", "value_low",
    "value_high",
)  # fmt: skip
GOAL_FIGURES = ("deciding_test", "sample_size_per_variant", "decision_sample_per_variant", "days_remaining")


def export_json(view: ExperimentView) -> dict:
    """The results API's detail plus every figure the page shows."""
    return {
        **experiment_detail(view.counts),
        "control": view.control,
        "status": view.status,
        "primary_goal": view.primary_goal,
        "decision": view.decision.to_dict(),
        "decisions": [line.to_dict() for line in view.decisions],
        "deciding_test": view.plan.deciding_test,
        "srm": {"chi2": view.srm.chi2, "p_value": view.srm.p_value, "mismatch": view.srm.mismatch},
        "statistics": [_goal_export(goal) for goal in view.conversion_goals],
        "value_statistics": [_value_goal_export(view, goal) for goal in view.value_goals],
    }


def _value_goal_export(view: ExperimentView, goal: GoalView) -> dict:
    """A value goal's figures (value per participant; a new key, so readers of
    ``statistics`` see conversion goals as before) and its daily series."""
    days, series = value_per_day(view.counts, goal.name)
    return {
        **_goal_export(goal),
        "daily_value_per_participant": [
            {"day": day, "variant": variant, "value_per_participant": points[index]}
            for variant, points in series
            for index, day in enumerate(days)
        ],
    }


def _goal_export(goal: GoalView) -> dict:
    figures = goal.stats.to_dict() if goal.stats else {}
    return {
        "goal": goal.name,
        "problem": goal.problem,
        **{name: figures.get(name) for name in GOAL_FIGURES},
        "variants": figures.get("variants", []),
    }


def export_csv(view: ExperimentView) -> str:
    """One row per goal and variant; cells that a spreadsheet would run as a
    formula are prefixed with a quote."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for goal in view.goals:
        for row in goal.stats.variants if goal.stats else []:
            values = dict.fromkeys(CSV_COLUMNS)
            values.update(row.to_dict(), namespace=view.counts.namespace, experiment=view.name, metric=goal.kind)
            if goal.kind == VALUE:
                values.update(trials=row.participants, successes=row.conversions)
            values.update(goal=goal.name, variant=row.label, srm_p_value=view.srm.p_value)
            values.update(primary_goal=view.primary_goal, decision=view.decision_text)
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


def amount(value: Optional[float]) -> str:
    """A value, currency-neutral: thousands separated, 2 decimals (4 below 1)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:,.4f}" if abs(value) < 1 else f"{value:,.2f}"


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


def visitors_count(value: Optional[float]) -> str:
    """A planned number of visitors, rounded up, with thousands separators."""
    return "—" if value is None else f"{math.ceil(value):,}"


def day_count(value: Optional[int]) -> str:
    return "—" if value is None else f"{value} day{'s' if value != 1 else ''}"


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
    env.filters.update(visitors=visitors_count, days=day_count)
    env.globals.update(experiment_path=experiment_path, action_path=action_path, COLLECTING=COLLECTING)
    env.globals.update(SIGNIFICANT=SIGNIFICANT, MISMATCH=MISMATCH, MIN_TRIALS=MIN_TRIALS)
    env.globals.update(MIN_SEQUENTIAL_OUTCOMES=MIN_SEQUENTIAL_OUTCOMES, SEQUENTIAL=SEQUENTIAL)
    env.globals.update(TEST_NAMES=TEST_NAMES, CORRECTION_NAMES=CORRECTION_NAMES, POWER=POWER)
    env.globals.update(lifecycle=lifecycle, weight_shares=weight_shares)
    env.filters.update(amount=amount)
    env.globals.update(MIN_CONVERSIONS=MIN_CONVERSIONS)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def static_file(name: str) -> Optional[str]:
    """A file of ``dashboard_templates/static`` (CSS), or None."""
    path = TEMPLATES_DIR / "static" / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return None
    return path.read_text(encoding="utf-8")
