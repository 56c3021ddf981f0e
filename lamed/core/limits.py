"""Bounds on the names an anonymous client can invent: experiments per
namespace and variants per experiment (settings ``max_*``).

A limit counts what exists in Redis (the registry sets), so it holds across
processes and restarts. Concurrent first events may pass together, so a
limit can be overshot by a few: it guards the key space against abuse, it
is not a quota.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from lamed.core.errors import LimitExceeded
from lamed.core.events import Event
from lamed.core.keys import KeySchema
from lamed.core.settings import Settings

Variant = tuple[str, str, str]  # (namespace, experiment, variant)
# Runs commands in one round trip and returns their replies (the tracker's exchange).
Run = Callable[[Sequence[tuple[object, ...]]], list[Any]]

_REMEMBERED = 100_000  # bounded memory in a long-lived process


class KeySpaceLimits:
    """Refuses an event of a new experiment or variant beyond the limits.

    Costs one round trip the first time this process sees an (experiment,
    variant), none after."""

    def __init__(self, keys: KeySchema, settings: Settings) -> None:
        self.keys = keys
        self.experiments_per_namespace = settings.max_experiments_per_namespace
        self.variants_per_experiment = settings.max_variants_per_experiment
        self._within: set[Variant] = set()

    def check(self, events: Sequence[Event], run: Run) -> None:
        unseen = sorted({(e.namespace, e.experiment, e.variant) for e in events} - self._within)
        if not unseen:
            return
        commands = []
        for namespace, experiment, variant in unseen:
            commands += [
                (b"SISMEMBER", self.keys.experiments_key(namespace), experiment),
                (b"SCARD", self.keys.experiments_key(namespace)),
                (b"SISMEMBER", self.keys.variants_key(namespace, experiment), variant),
                (b"SCARD", self.keys.variants_key(namespace, experiment)),
            ]
        replies = run(commands)
        # New names of this batch count too, so one batch cannot jump a limit.
        new_experiments: dict[str, set[str]] = defaultdict(set)
        new_variants: dict[tuple[str, str], set[str]] = defaultdict(set)
        for index, (namespace, experiment, variant) in enumerate(unseen):
            known_experiment, experiments, known_variant, variants = replies[4 * index : 4 * index + 4]
            if not known_experiment:
                new_experiments[namespace].add(experiment)
                if int(experiments) + len(new_experiments[namespace]) > self.experiments_per_namespace:
                    limit = self.experiments_per_namespace
                    raise LimitExceeded(f"namespace {namespace!r} already has {limit} experiments", "experiment")
            if not known_variant:
                new_variants[namespace, experiment].add(variant)
                if int(variants) + len(new_variants[namespace, experiment]) > self.variants_per_experiment:
                    limit = self.variants_per_experiment
                    raise LimitExceeded(f"experiment {experiment!r} already has {limit} variants", "variant")
        if len(self._within) > _REMEMBERED:
            self._within.clear()
        self._within.update(unseen)
