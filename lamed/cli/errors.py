"""Errors an operator can fix, shown as one line (``Error: ...``, exit 1),
never as a traceback. Shared by every ``lamed`` command."""

from __future__ import annotations

import functools
from typing import Any, Callable, Tuple, Type

import click

from lamed.core.errors import SettingsError
from lamed.core.settings import Settings, load_settings

NO_REDIS = "no Redis configured: set LAMED_REDIS_URL or run `lamed configure`"


def one_line(error: BaseException) -> str:
    from lamed.core.errors import InvalidInput

    if isinstance(error, InvalidInput) and error.field:
        return f"{error.message} (field: {error.field})"
    return " ".join(str(error).split()) or type(error).__name__


def _core_errors() -> Tuple[Type[BaseException], ...]:
    # Imported on failure only: `lamed --help` need not load redis.
    from lamed.core.errors import InvalidInput, StoreUnavailable

    return (SettingsError, InvalidInput, StoreUnavailable)


def one_line_errors(extra: Callable[[], Tuple[Type[BaseException], ...]] = tuple) -> Callable:
    """Decorates a command: core errors and those ``extra()`` names become
    ``click.ClickException`` (one line, exit status 1)."""

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return command(*args, **kwargs)
            except Exception as error:
                if isinstance(error, (*_core_errors(), *extra())):
                    raise click.ClickException(one_line(error)) from None
                raise

        return wrapper

    return decorate


def settings_or_fail() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        raise click.ClickException(one_line(error)) from None


def store_or_fail(settings: Settings):
    """The Store of the configured Redis, for commands that talk to it directly."""
    from lamed.web import runtime

    if not settings.redis_url:
        raise click.ClickException(NO_REDIS)
    return runtime.build_store(settings)
