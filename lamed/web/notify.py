"""A message when an experiment's decision changes (docs/notifications.md).

One check (:func:`check`) reads every experiment's decision, compares its
kind with the last one notified (the ``notified`` hash, lamed.core.keys),
and POSTs one message to ``notify_url`` for each change worth one: to or
from a conclusion (ship, keep control, no meaningful difference, check the
traffic split). Changes between "not enough data" and "keep running" are
recorded silently. Exactly once however many processes check:

- a check runs under a lock in Redis (``notify-lock``, a random token with
  an expiry, extended before each POST and given up when lost), so two
  checks never overlap;
- a change is recorded only after its POST answered 2xx: a timeout or any
  other answer leaves it pending, and the next check sends it again.

Paused and stopped experiments are skipped: they send nothing more.
``lamed notify`` runs one check; ``lamed serve`` runs :class:`Notifier` in
every process (the ``notify-due`` key lets one check per interval through);
on Lambda a scheduled rule invokes the function with :data:`NOTIFY_EVENT`.
The track path never imports this module.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, NamedTuple, Optional

from lamed.core.errors import SettingsError
from lamed.core.keys import notified_field, parse_definition_field
from lamed.core.lifecycle import NOT_COUNTED_STATUSES
from lamed.core.settings import JSON, Settings
from lamed.dashboard.views import ExperimentView, experiment_path
from lamed.stats.decision import CHECK_SPLIT, CONCLUSIONS
from lamed.store.definitions import DefinitionStore
from lamed.store.results import Store
from lamed.web.decisions import experiment_views
from lamed.web.lambda_handler import NOTIFY_EVENT, NOTIFY_KEY  # noqa: F401 - NOTIFY_EVENT: the schedule's payload

log = logging.getLogger("lamed")

POST_TIMEOUT_SECONDS = 5.0
LOCK_SECONDS = 60  # a check holds the lock this long past its last POST
LAMBDA_MARGIN_SECONDS = 1.0  # of the invocation's time, kept for recording and answering
USER_AGENT = "lamed-notify"
NO_NOTIFY_URL = "no notify_url set: set LAMED_NOTIFY_URL (or notify_url in the config)"

# The lock is given back, or extended, only by the check that holds it.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_EXTEND = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"

Post = Callable[[str, bytes], int]  # (url, JSON body) -> HTTP status; raises OSError when unreachable


class Change(NamedTuple):
    """One experiment whose decision kind is not the one last recorded."""

    namespace: str
    experiment: str
    previous: Optional[str]  # None: never recorded
    view: ExperimentView

    @property
    def kind(self) -> str:
        return self.view.decision.kind

    @property
    def worth_a_message(self) -> bool:
        return self.kind in CONCLUSIONS or self.previous in CONCLUSIONS


class Report(NamedTuple):
    """What one check did: messages delivered, failed (retried next check), changes recorded silently."""

    ran: bool  # False: another check held the lock
    sent: list[Change]
    failed: list[Change]
    recorded: list[Change]


def post_json(url: str, body: bytes) -> int:
    """POSTs ``body`` and returns the status; an HTTP error status is returned, not raised."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": USER_AGENT}
    )
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def check(
    store: Store,
    settings: Settings,
    post: Post = post_json,
    now: Optional[float] = None,
    budget_seconds: Optional[float] = None,
) -> Report:
    """One check of every experiment of every namespace (see the module's doc).

    With ``budget_seconds`` (a Lambda's remaining time), no POST starts that
    could outlast it: those messages wait for the next check."""
    if not settings.notify_url:
        raise SettingsError(NO_NOTIFY_URL)
    token = secrets.token_hex(16)
    keys = store.keys
    with store.trouble:
        if not store.client.set(keys.notify_lock, token, nx=True, ex=LOCK_SECONDS):
            return Report(False, [], [], [])
    try:
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        return _check_locked(store, settings, post, token, time.time() if now is None else now, deadline)
    finally:
        with store.trouble:
            store.client.eval(_RELEASE, 1, keys.notify_lock, token)


def _check_locked(
    store: Store, settings: Settings, post: Post, token: str, now: float, deadline: Optional[float]
) -> Report:
    sent: list[Change] = []
    failed: list[Change] = []
    recorded: list[Change] = []
    for change in pending_changes(store, settings):
        if not change.worth_a_message:
            _record(store, change, now)
            recorded.append(change)
            continue
        if deadline is not None and time.monotonic() + POST_TIMEOUT_SECONDS > deadline:
            failed.append(change)  # no time left for its POST: the next check sends it
            continue
        if not _still_ours(store, token):
            log.warning("notify: the check lost its lock; the next check sends the rest")
            break
        if _deliver(settings, change, post):
            _record(store, change, now)
            sent.append(change)
        else:
            failed.append(change)
    return Report(True, sent, failed, recorded)


def pending_changes(store: Store, settings: Settings) -> list[Change]:
    """Every running experiment whose decision kind differs from the one recorded."""
    definitions = DefinitionStore(store.client, store.keys).all()
    with store.trouble:
        notified = store.client.hgetall(store.keys.notified)
    last = {parse_definition_field(field): _kind(value) for field, value in notified.items()}
    changes = []
    for namespace in store.namespaces():
        views = experiment_views(store, lambda ns, name: definitions.get((ns, name)), settings, namespace)
        for view in views:
            if view.definition is not None and view.definition.status in NOT_COUNTED_STATUSES:
                continue  # paused or stopped: nothing more to say
            previous = last.get((namespace, view.name))
            if previous != view.decision.kind:
                changes.append(Change(namespace, view.name, previous, view))
    return changes


def _kind(recorded: bytes) -> Optional[str]:
    """The kind a ``notified`` value holds; None for one that cannot be read (sent again)."""
    try:
        kind = json.loads(recorded)["kind"]
    except (ValueError, TypeError, KeyError):
        return None
    return kind if isinstance(kind, str) else None


def _still_ours(store: Store, token: str) -> bool:
    with store.trouble:
        return bool(store.client.eval(_EXTEND, 1, store.keys.notify_lock, token, LOCK_SECONDS * 1000))


def _deliver(settings: Settings, change: Change, post: Post) -> bool:
    """POSTs the message; True on a 2xx answer. Never raises: a failure waits for the next check."""
    assert settings.notify_url
    try:
        status = post(settings.notify_url, json.dumps(message(change, settings), ensure_ascii=False).encode())
    except (OSError, ValueError) as error:  # unreachable, timed out, refused TLS
        log.warning("notify: POST for %r failed (%s); retried at the next check", change.experiment, error)
        return False
    if not 200 <= status < 300:
        log.warning("notify: POST for %r answered %s; retried at the next check", change.experiment, status)
    return 200 <= status < 300


def _record(store: Store, change: Change, now: float) -> None:
    value = {"kind": change.kind, "decision": change.view.decision.to_dict(), "at": int(now)}
    with store.trouble:
        store.client.hset(
            store.keys.notified,
            notified_field(change.namespace, change.experiment),
            json.dumps(value, ensure_ascii=False),
        )


# -- the message ----------------------------------------------------------------


def message(change: Change, settings: Settings) -> dict[str, Any]:
    """The body: ``json``'s fields, or a Slack incoming webhook's ``text``."""
    url = dashboard_url(settings, change.namespace, change.experiment)
    if settings.notify_format == JSON:
        return {
            "namespace": change.namespace,
            "experiment": change.experiment,
            "previous": change.previous,
            "kind": change.kind,
            "decision": change.view.decision.to_dict(),
            "dashboard_url": url,
        }
    return {"text": slack_text(change, url)}


def slack_text(change: Change, url: Optional[str]) -> str:
    """One line for a channel: what was decided, on which experiment, and a link."""
    name = f"*{slack_escape(change.experiment)}* (namespace {slack_escape(change.namespace)})"
    text = slack_escape(change.view.decision.text)
    previous = slack_escape(change.previous or "")
    if change.kind == CHECK_SPLIT:
        line = f"{name} needs attention: {text}"
    elif change.kind in CONCLUSIONS:
        line = f"{name} is decided: {text}"
    elif change.previous == CHECK_SPLIT:
        line = f"{name} has a sound traffic split again: {text}"
    else:
        line = f"{name} is no longer decided (it was “{previous}”): {text}"
    return f"{line} <{slack_escape(url)}|Open the dashboard>" if url else line


def slack_escape(text: str) -> str:
    """Slack's message escaping: &, < and > only (its control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def dashboard_url(settings: Settings, namespace: str, experiment: str) -> Optional[str]:
    """The experiment's dashboard page, when the deployment's URL is known."""
    base = settings.public_url or settings.extra.get("api_url")
    if not isinstance(base, str) or not base:
        return None
    return experiment_path(f"{base.rstrip('/')}/dashboard", experiment, namespace)


# -- on a schedule ------------------------------------------------------------------


def claim_interval(store: Store, settings: Settings) -> bool:
    """True for the one process that runs this interval's check."""
    with store.trouble:
        return bool(store.client.set(store.keys.notify_due, b"1", nx=True, ex=settings.notify_interval_seconds))


class Notifier:
    """``lamed serve``'s background check: every process runs one; each
    interval, the first to claim it checks (see claim_interval)."""

    def __init__(self, store_of: Callable[[], Store], settings: Settings) -> None:
        self.store_of = store_of
        self.settings = settings
        self.stopped = threading.Event()
        # Polls well within the interval, at most once a minute: a claim is one SET.
        self.poll_seconds = min(60.0, max(0.2, settings.notify_interval_seconds / 4))
        self.thread = threading.Thread(target=self._run, name="lamed-notify", daemon=True)

    def start(self) -> Notifier:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                store = self.store_of()
                if claim_interval(store, self.settings):
                    report = check(store, self.settings)
                    if report.failed:
                        log.warning("notify: %d message(s) wait for the next check", len(report.failed))
            except Exception:  # noqa: BLE001 - the server keeps serving whatever a check meets
                log.exception("notify: the check failed; the next interval tries again")
            self.stopped.wait(self.poll_seconds)


def start_notifier(settings: Settings) -> Optional[Notifier]:
    """The background check of ``lamed serve``, when a notify_url is set."""
    if not settings.notify_url:
        return None
    from lamed.web import runtime

    return Notifier(runtime.store, settings).start()


def scheduled_notify(context: Any = None) -> dict[str, Any]:
    """The answer to the scheduled rule's invocation (:data:`NOTIFY_EVENT`) on
    Lambda; ``context`` (the invocation's) bounds the check by the time left."""
    from lamed.web import runtime

    if not runtime.settings().notify_url:
        return {NOTIFY_KEY: {"ran": False, "error": NO_NOTIFY_URL}}
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget = remaining() / 1000.0 - LAMBDA_MARGIN_SECONDS if remaining else None
    report = check(runtime.store(), runtime.settings(), budget_seconds=budget)
    return {NOTIFY_KEY: {"ran": report.ran, "sent": len(report.sent), "failed": len(report.failed)}}
