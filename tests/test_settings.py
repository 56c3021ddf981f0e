"""Settings: config file, environment on top, clear errors."""

import json
import stat

import pytest

from lamed.core.errors import SettingsError
from lamed.core.settings import Settings, load_settings, write_config_file


def test_defaults_without_file_or_env(tmp_path):
    assert load_settings(tmp_path / "missing.json", environ={}) == Settings()


def test_file_then_env_wins(tmp_path):
    path = tmp_path / "config.json"
    write_config_file(path, {"redis_url": "redis://file:6379/0", "uuid_expiry_seconds": 60, "api_key": "k" * 20})
    settings = load_settings(path, environ={"LAMED_REDIS_URL": "redis://env:6379/1"})
    assert settings.redis_url == "redis://env:6379/1"
    assert settings.uuid_expiry_seconds == 60
    assert settings.api_key == "k" * 20


def test_config_file_is_private(tmp_path):
    path = tmp_path / "sub" / "config.json"
    write_config_file(path, {"api_key": "secret" * 4})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"api_key": "secret" * 4}


def test_env_values_are_coerced(tmp_path):
    environ = {
        "LAMED_UUID_EXPIRY_SECONDS": "120",
        "LAMED_TRACK_PATHS": "/t, /collect",
        "LAMED_REDIS_TIMEOUT_SECONDS": "1.5",
    }
    settings = load_settings(tmp_path / "none.json", environ=environ)
    assert settings.uuid_expiry_seconds == 120
    assert settings.track_paths == ("/t", "/collect")
    assert settings.redis_timeout_seconds == 1.5


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"LAMED_UUID_EXPIRY_SECONDS": "soon"}, "uuid_expiry_seconds must be an integer"),
        ({"LAMED_UUID_EXPIRY_SECONDS": "0"}, "uuid_expiry_seconds must be at least 1"),
        ({"LAMED_REDIS_URL": "localhost:6379"}, "redis_url must start with"),
        ({"LAMED_API_KEY": "short"}, "api_key must be at least 20"),
        ({"LAMED_REDIS_TIMEOUT_SECONDS": "0"}, "redis_timeout_seconds"),
        ({"LAMED_TRACK_PATHS": "nope"}, "track path"),
        ({"LAMED_DECIDING_TEST": "bayesian"}, "deciding_test must be one of sequential, fixed"),
        ({"LAMED_COMPARISON_CORRECTION": "bonferroni"}, "comparison_correction must be one of holm, bh"),
        ({"LAMED_COMPARISON_FAMILY": "variant"}, "comparison_family must be one of experiment, goal"),
        ({"LAMED_ALPHA": "0.5"}, "alpha must be in (0, 0.5)"),
        ({"LAMED_ALPHA": "nan"}, "alpha must be in (0, 0.5)"),
        ({"LAMED_MDE": "0"}, "mde must be in (0, 10]"),
        ({"LAMED_MDE": "ten"}, "mde must be a number"),
        ({"LAMED_SEQUENTIAL_TUNING_PARAMETER": "-1"}, "sequential_tuning_parameter must be a positive number"),
    ],
)
def test_invalid_settings_fail_with_a_clear_message(tmp_path, environ, message):
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path / "none.json", environ=environ)
    assert message in str(caught.value)


def test_statistics_settings_from_the_environment(tmp_path):
    assert (Settings().deciding_test, Settings().alpha, Settings().mde) == ("sequential", 0.05, 0.10)
    assert Settings().sequential_tuning_parameter == 5000 and Settings().comparison_correction == "holm"
    environ = {
        "LAMED_DECIDING_TEST": "fixed",
        "LAMED_ALPHA": "0.01",
        "LAMED_SEQUENTIAL_TUNING_PARAMETER": "20000",
        "LAMED_COMPARISON_CORRECTION": "bh",
        "LAMED_COMPARISON_FAMILY": "goal",
        "LAMED_MDE": "0.05",
    }
    settings = load_settings(tmp_path / "none.json", environ=environ)
    assert (settings.deciding_test, settings.alpha, settings.sequential_tuning_parameter) == ("fixed", 0.01, 20000.0)
    assert (settings.comparison_correction, settings.comparison_family, settings.mde) == ("bh", "goal", 0.05)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_malformed_config_file(tmp_path, content):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ={})
    assert str(path) in str(caught.value)


def test_wrong_type_in_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"uuid_expiry_seconds": True}))
    with pytest.raises(SettingsError):
        load_settings(path, environ={})
