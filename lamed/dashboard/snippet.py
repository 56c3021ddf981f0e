"""The Alephbet snippet: a ``LamedAdapter`` reporting to the track URL and
an experiment, from a definition or as an example. The one builder of it
(the CLI's ``lamed snippet``, ``lamed experiments snippet`` and the
dashboard's empty page), with one escaping rule.

From a definition the browser splits traffic with Alephbet's own random
draw (weights and ``sample``); server-side ``/assign`` uses Lamed's hash
instead, so the two agree in proportions, not user by user.
"""

from __future__ import annotations

import json
from html import escape

from lamed.core.definitions import Definition
from lamed.core.lifecycle import STOPPED

DEFAULT_SCRIPT_SRC = "/js/alephbet.min.js"
WEIGHT_SCALE = 1000  # Alephbet wants integer weights
EXAMPLE_VARIANTS = {"A": 50, "B": 50}
EXAMPLE_GOAL = "clicked"
ALEPHBET_ADAPTER = "AlephBet.LamedAdapter"  # one GET per event
BATCH_ADAPTER = "LamedBatchAdapter"  # dashboard_templates/static/lamed-batch.js
BATCH_ADAPTER_FILE = "lamed-batch.js"


def js_string(text: str) -> str:
    """A JavaScript string literal, safe inside an HTML ``<script>``: JSON,
    with every ``<`` escaped (no ``</script>`` or ``<!--`` can end the block)."""
    return json.dumps(text).replace("<", "\\u003c")


def alephbet_weights(definition: Definition) -> dict[str, int]:
    """Integer weights in the definition's proportions (a stopped experiment:
    the winner only)."""
    if definition.status == STOPPED and definition.winner is not None:
        return {definition.winner: 100}
    weights = definition.variants
    if all(float(weight).is_integer() for weight in weights.values()):
        return {name: int(weight) for name, weight in weights.items()}
    return {name: round(weight * WEIGHT_SCALE) for name, weight in weights.items()}


def experiment_script(
    name: str,
    weights: dict[str, int],
    track_url: str,
    namespace: str,
    sample: float = 1.0,
    goal: str | None = None,
    adapter: str = ALEPHBET_ADAPTER,
) -> str:
    """JavaScript creating the experiment with ``adapter`` (Alephbet's
    LamedAdapter, or the batching one) reporting to ``track_url``."""
    variants = ",\n".join(
        f"    {js_string(variant)}: {{\n      activate: function () {{}},\n      weight: {weight}\n    }}"
        for variant, weight in weights.items()
    )
    lines = [
        f"var lamedAdapter = new {adapter}({js_string(track_url)}, {js_string(namespace)});",
        "var experiment = new AlephBet.Experiment({",
        f"  name: {js_string(name)},",
        "  tracking_adapter: lamedAdapter,",
        *([f"  sample: {sample:g},"] if sample < 1 else []),
        "  variants: {",
        variants,
        "  }",
        "});",
    ]
    if goal is not None:
        lines += [
            f"var goal = new AlephBet.Goal({js_string(goal)});",
            "experiment.add_goal(goal); // call goal.complete() when the user reaches the goal",
        ]
    return "\n".join(lines) + "\n"


def alephbet_snippet_for_definition(definition: Definition, track_url: str, namespace: str) -> str:
    return experiment_script(
        definition.name, alephbet_weights(definition), track_url, namespace, sample=definition.coverage / 100
    )


def alephbet_snippet(track_url: str, namespace: str, script_src: str = DEFAULT_SCRIPT_SRC, batch: bool = False) -> str:
    """A page's script tags: Alephbet from ``script_src`` and an example
    experiment with one goal; with ``batch``, the batching adapter inline
    (events sent in batches, see dashboard_templates/static/lamed-batch.js)."""
    adapter = BATCH_ADAPTER if batch else ALEPHBET_ADAPTER
    script = experiment_script(
        "my experiment", EXAMPLE_VARIANTS, track_url, namespace, goal=EXAMPLE_GOAL, adapter=adapter
    )
    return (
        "<!-- Alephbet: serve node_modules/alephbet/dist/alephbet.min.js (npm install alephbet) from your site -->\n"
        f'<script src="{escape(script_src, quote=True)}"></script>\n'
        + (f"<script>\n{batch_adapter_script()}</script>\n" if batch else "")
        + f"<script>\n{script}</script>"
    )


def batch_adapter_script() -> str:
    """The batching adapter's JavaScript, as shipped."""
    from lamed.dashboard.views import static_file

    script = static_file(BATCH_ADAPTER_FILE)
    if script is None:
        raise FileNotFoundError(f"dashboard_templates/static/{BATCH_ADAPTER_FILE} is missing from this install")
    return script
