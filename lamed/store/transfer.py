"""Export and import of all counters and definitions (JSON), and import from
an existing Lamed/Gimel Redis, for backups and for moving over.

The document::

    {"format": "lamed-export", "version": 1,
     "experiments": [{"namespace": ..., "experiment": ...,
                      "counts": [{"day": "YYYYMMDD", "event": ..., "variant": ..., "count": n}],
                      "values": [{"day": "YYYYMMDD", "event": ..., "variant": ...,
                                  "sum_micro": n, "sum_of_squares_micro": n}]}],
     "definitions": [{"namespace": ..., "experiment": ..., "definition": {...}}]}

``values`` (goals' values, exact integers in micro-units and micro-units
squared, see lamed.core.keys) is present only for experiments that have
some; a document without it imports as before.

Importing *sets* each day counter to the exported value (a restore: running
it twice gives the same state), registers the experiments, and puts the
definitions. Dedup flags are not exported: they expire within a day anyway.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import redis

from lamed.core import keys
from lamed.core.counting import utc_day
from lamed.core.definitions import definition_from_dict
from lamed.core.errors import InvalidInput, TransferError
from lamed.core.events import PARTICIPATE
from lamed.core.results import ExperimentCounts
from lamed.store.definitions import DefinitionStore
from lamed.store.results import Store

Progress = Callable[[int], None]  # told a running count


def _quiet(count: int) -> None:
    pass


FORMAT = "lamed-export"
VERSION = 1


def export_document(store: Store, progress: Progress = _quiet) -> dict:
    """Every counter and definition; ``progress`` is told the experiments done."""
    experiments = []
    for namespace in store.namespaces():
        for counts in store.results(namespace, store.experiment_names(namespace)):
            rows = [
                {"day": day, "event": event, "variant": variant, "count": value}
                for (day, event, variant), value in sorted(counts.daily.items())
            ]
            item = {"namespace": namespace, "experiment": counts.name, "counts": rows}
            if counts.value_sums or counts.value_squares:
                item["values"] = _value_rows(counts)
            experiments.append(item)
            progress(len(experiments))
    return {"format": FORMAT, "version": VERSION, "experiments": experiments, "definitions": _definitions(store)}


def _value_rows(counts: ExperimentCounts) -> list:
    cells = sorted(set(counts.value_sums) | set(counts.value_squares))
    return [
        {"day": day, "event": goal, "variant": variant, "sum_micro": counts.value_sums.get((day, goal, variant), 0),
         "sum_of_squares_micro": counts.value_squares.get((day, goal, variant), 0)}
        for day, goal, variant in cells
    ]  # fmt: skip


def _definitions(store: Store) -> list:
    stored = DefinitionStore(store.client, store.keys).all()
    return [
        {"namespace": namespace, "experiment": name, "definition": definition.to_dict()}
        for (namespace, name), definition in sorted(stored.items())
    ]


def import_document(store: Store, document: Any, progress: Progress = _quiet) -> dict:
    """Writes an export into ``store`` (all checked before anything is written);
    ``progress`` is told the experiments written."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TransferError(f"not a {FORMAT} document")
    if document.get("version") != VERSION:
        raise TransferError(f"unsupported {FORMAT} version {document.get('version')!r}")
    experiments = [_experiment_rows(item) for item in _list(document, "experiments")]
    definitions = [_definition(item) for item in _list(document, "definitions")]
    for done, (namespace, experiment, rows, values) in enumerate(experiments, 1):
        write_counts(store, namespace, experiment, rows)
        write_values(store, namespace, experiment, values)
        progress(done)
    _put_definitions(store, definitions)
    counters = sum(len(rows) for _, _, rows, _ in experiments)
    return {"experiments": len(experiments), "counters": counters, "definitions": len(definitions)}


def _experiment_rows(item: Any) -> tuple:
    rows = [(_text(r, "day"), _text(r, "event"), _text(r, "variant"), _count(r)) for r in _list(item, "counts")]
    values = [
        (_text(r, "day"), _text(r, "event"), _text(r, "variant"), _integer(r, "sum_micro"),
         _integer(r, "sum_of_squares_micro", minimum=0))
        for r in _list(item, "values")
    ]  # fmt: skip
    return _text(item, "namespace"), _text(item, "experiment"), rows, values


def _definition(item: Any) -> tuple:
    try:
        return _text(item, "namespace"), definition_from_dict(_text(item, "experiment"), item.get("definition"))
    except InvalidInput as error:
        raise TransferError(f"definition {item.get('experiment')!r}: {error.message}") from None


def _put_definitions(store: Store, definitions: list) -> None:
    stored = DefinitionStore(store.client, store.keys)
    for namespace, definition in definitions:
        stored.put(namespace, definition)


def write_counts(store: Store, namespace: str, experiment: str, rows: Iterable[tuple]) -> None:
    """Sets day counters ``(day, event, variant, count)`` and registers them."""
    rows = list(rows)
    if not rows:
        return
    fields = {keys.day_field(day, event, variant): count for day, event, variant, count in rows}
    with store.trouble:
        pipe = store.client.pipeline(transaction=False)
        pipe.hset(store.keys.counts_key(namespace, experiment), mapping=fields)
        pipe.sadd(store.keys.variants_key(namespace, experiment), *{variant for _, _, variant, _ in rows})
        pipe.sadd(store.keys.experiments_key(namespace), experiment)
        pipe.sadd(store.keys.experiment_index, store.keys.experiment_index_member(namespace, experiment))
        goals = {event for _, event, _, _ in rows if event != PARTICIPATE}
        if goals:
            pipe.sadd(store.keys.goals_key(namespace, experiment), *goals)
        pipe.sadd(store.keys.namespaces, namespace)
        pipe.execute()


def write_values(store: Store, namespace: str, experiment: str, rows: Iterable[tuple]) -> None:
    """Sets goals' value sums ``(day, goal, variant, sum, sum of squares)``
    (micro-units; their goals and variants are registered by their counts)."""
    fields = {}
    for day, goal, variant, total, squares in rows:
        sum_field, squares_field = keys.value_fields(day, goal, variant)
        fields[sum_field], fields[squares_field] = total, squares
    if fields:
        with store.trouble:
            store.client.hset(store.keys.values_key(namespace, experiment), mapping=fields)


# -- Lamed 0.4.3 / Gimel --------------------------------------------------


def import_from_lamed(
    store: Store, source: redis.Redis, namespaces: Iterable[str], day: Optional[str] = None, progress: Progress = _quiet
) -> dict:
    """Copies the counters of an old Lamed/Gimel Redis into one day bucket.

    Old keys: ``{ns}:experiments`` (set of names), ``{ns}:{exp}:counter_keys``
    (set of counter keys), counters ``{ns}:counters:{exp}:{goal}:{variant}``
    holding a number (Lamed) or a HyperLogLog (Gimel, read with PFCOUNT).
    A goal or variant holding ``:`` is ambiguous in that schema: the last
    ``:`` is taken as the separator.
    """
    day = day or utc_day()
    if not (len(day) == 8 and day.isdigit()):
        raise TransferError(f"day must be YYYYMMDD, got {day!r}")
    imported = {"experiments": 0, "counters": 0}
    for namespace in namespaces:
        for raw_name in sorted(source.smembers(f"{namespace}:experiments")):
            experiment = _decode(raw_name)
            rows = _lamed_counters(source, namespace, experiment, day)
            write_counts(store, namespace, experiment, rows)
            imported["experiments"] += 1
            imported["counters"] += len(rows)
            progress(imported["experiments"])
    return imported


def _lamed_counters(source: redis.Redis, namespace: str, experiment: str, day: str) -> list:
    prefix = f"{namespace}:counters:{experiment}:"
    counter_keys = sorted(_decode(k) for k in source.smembers(f"{namespace}:{experiment}:counter_keys"))
    counter_keys = [key for key in counter_keys if key.startswith(prefix) and ":" in key[len(prefix) :]]
    values = source.mget(counter_keys) if counter_keys else []
    rows = []
    for key, value in zip(counter_keys, values):
        if value is None:
            continue
        goal, variant = key[len(prefix) :].rsplit(":", 1)
        count = source.pfcount(key) if value.startswith(b"HYLL") else int(value)
        rows.append((day, goal, variant, count))
    return rows


# -- validation of a document ------------------------------------------------


def _list(item: Any, name: str) -> list:
    value = item.get(name, []) if isinstance(item, dict) else None
    if not isinstance(value, list):
        raise TransferError(f"{name} must be a list")
    return value


def _text(item: Any, name: str) -> str:
    value = item.get(name) if isinstance(item, dict) else None
    if not isinstance(value, str) or not value:
        raise TransferError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _count(item: dict) -> int:
    value = item.get("count")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TransferError(f"count must be a non-negative integer, got {value!r}")
    return value


def _integer(item: dict, name: str, minimum: Optional[int] = None) -> int:
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" of at least {minimum}"
        raise TransferError(f"{name} must be an integer{bound}, got {value!r}")
    return value


def _decode(raw: Any) -> str:
    return raw.decode("utf-8") if isinstance(raw, bytes) else raw
