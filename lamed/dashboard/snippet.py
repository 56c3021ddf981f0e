"""An Alephbet snippet built from an experiment definition.

The browser then splits traffic with Alephbet's own random draw (weights and
``sample``); server-side ``/assign`` uses Lamed's hash instead, so the two do
not agree user by user, only in proportions.
"""

from __future__ import annotations

import json

from lamed.core.definitions import Definition
from lamed.core.lifecycle import STOPPED

WEIGHT_SCALE = 1000  # Alephbet wants integer weights


def alephbet_weights(definition: Definition) -> dict:
    """Integer weights in the definition's proportions (a stopped experiment:
    the winner only)."""
    if definition.status == STOPPED:
        return {definition.winner: 100}
    weights = definition.variants
    if all(float(weight).is_integer() for weight in weights.values()):
        return {name: int(weight) for name, weight in weights.items()}
    return {name: round(weight * WEIGHT_SCALE) for name, weight in weights.items()}


def _js(text: str) -> str:
    """A JavaScript string literal, safe inside an HTML ``<script>`` too."""
    return json.dumps(text).replace("<", "\\u003c")


def alephbet_snippet_for_definition(definition: Definition, track_url: str, namespace: str) -> str:
    """JavaScript creating the experiment with a LamedAdapter reporting to ``track_url``."""
    variants = ",\n".join(
        f"    {_js(name)}: {{\n      activate: function () {{}},\n      weight: {weight}\n    }}"
        for name, weight in alephbet_weights(definition).items()
    )
    sample = "" if definition.coverage >= 100 else f"  sample: {definition.coverage / 100:g},\n"
    return (
        f"var lamedAdapter = new AlephBet.LamedAdapter({_js(track_url)}, {_js(namespace)});\n"
        "var experiment = new AlephBet.Experiment({\n"
        f"  name: {_js(definition.name)},\n"
        "  tracking_adapter: lamedAdapter,\n"
        f"{sample}"
        "  variants: {\n"
        f"{variants}\n"
        "  }\n"
        "});\n"
    )
