"""The fleet settings (``REDIS_URL``, ``MAX_CALLS_PER_PROCESS``, ``MAX_CALLS_PER_CALLER``)."""

from __future__ import annotations

import pytest

from pipecat_twilio_realtime import CallLimiter
from pipecat_twilio_realtime.example import ConfigError, load_settings
from pipecat_twilio_realtime.example.app import build_limits
from pipecat_twilio_realtime.observe.metrics import CallMetrics
from pipecat_twilio_realtime.twilio.shared_limits import LocalCallLimits, RedisCallLimiter

BASE = {"OPENAI_API_KEY": "sk-x", "ALLOW_UNSIGNED": "1"}


def test_without_redis_every_cap_is_per_process_as_before() -> None:
    settings = load_settings(BASE)
    assert (settings.redis_url, settings.max_calls_per_caller, settings.process_cap) == (None, None, 24)
    assert load_settings({**BASE, "MAX_CALLS": "8", "MAX_CALLS_PER_PROCESS": "5"}).process_cap == 5
    assert load_settings({**BASE, "MAX_CALLS": "3", "MAX_CALLS_PER_PROCESS": "5"}).process_cap == 3
    limits, _ = build_limits(load_settings({**BASE, "MAX_CALLS_PER_CALLER": "2"}), CallMetrics())
    assert type(limits) is LocalCallLimits and limits.per_caller is not None
    assert limits.per_caller.max_per_caller == 2


async def test_with_redis_max_calls_is_global_and_the_process_keeps_its_own_cap() -> None:
    env = {**BASE, "REDIS_URL": "redis://:hunter2-password@127.0.0.1:1/0", "MAX_CALLS": "50"}
    settings = load_settings({**env, "MAX_CALLS_PER_PROCESS": "20", "REDIS_LEASE_SECS": "12"})
    assert settings.process_cap == 20 and settings.redis_lease_secs == 12
    assert "hunter2" not in repr(settings)
    limits, update = build_limits(settings, CallMetrics())
    assert isinstance(limits, RedisCallLimiter)
    assert (limits.max_calls, limits.calls.max_calls) == (50, 20)
    assert repr(limits) == "RedisCallLimiter(127.0.0.1:1, mode=shared, max_calls=50)"  # no password
    update()
    await limits.aclose()
    assert load_settings(env).process_cap == 50  # default: MAX_CALLS


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL must start with redis://"),
        ({"REDIS_URL": "http://:secret@x"}, "REDIS_URL must start with redis://"),
        ({"MAX_CALLS_PER_PROCESS": "0"}, "MAX_CALLS_PER_PROCESS='0' must be at least 1"),
        ({"MAX_CALLS_PER_CALLER": "two"}, "MAX_CALLS_PER_CALLER='two' is not a whole number"),
        ({"REDIS_LEASE_SECS": "0.2"}, "REDIS_LEASE_SECS='0.2' must be at least 1"),
    ],
)
def test_a_bad_fleet_setting_is_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        load_settings({**BASE, **env})
    assert "secret" not in str(error.value)


def test_a_limiter_refuses_bad_bounds() -> None:
    for kw in ({"lease_s": 0}, {"retry_s": -1}, {"timeout_s": 0}, {"max_calls_per_caller": 0}):
        with pytest.raises(ValueError, match="must be positive"):
            RedisCallLimiter(_NoClient(), 2, local=CallLimiter(1), **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_calls must be positive"):
        RedisCallLimiter(_NoClient(), 0, local=CallLimiter(1))


class _NoClient:
    def register_script(self, _script: str) -> object:
        return object()
