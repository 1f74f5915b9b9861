"""The example bot's settings, read from the environment (and ``.env``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_PROMPT = (
    "You are a friendly receptionist answering the phone for a small bakery. Speak English. "
    "Keep answers short: this is a phone call. Greet the caller first. "
    "Use get_opening_hours when asked when the shop is open, and end_call when the caller says goodbye. "
    "Callers can press 0 on their keypad for a person: key presses reach you as text such as "
    "'The caller pressed 0.'. When the caller presses 0 or asks for a person, call transfer_to_person."
)
DEFAULT_REALTIME_URL = "wss://api.openai.com/v1/realtime"
UNSIGNED_SETTING = "ALLOW_UNSIGNED"
_TRUE = {"1", "true", "yes", "on"}
_MIN_SECRET_CHARS = 16
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


class ConfigError(ValueError):
    """A required setting is missing or invalid; the message names it."""


DEFAULT_MAX_CALLS = 24
"""Calls one process runs at once by default: 3/4 of the knee measured by ``benchmarks/bench_capacity.py``
(32 concurrent calls with the package's defaults on one process of a 2-core machine, reply latency p99
5 ms, no gaps; at 48 the callers heard gaps), leaving room for bursts and a busier machine
(``docs/soak-and-capacity.md``)."""


@dataclass(frozen=True)
class BotSettings:
    """Everything the bot reads from the environment (see ``env.example``).

    Parameters:
        openai_api_key: ``OPENAI_API_KEY`` (required).
        public_host: ``PUBLIC_HOST``, the host Twilio reaches (e.g. ``abc.ngrok.app``); needed for ``/twiml``.
        twilio_account_sid: ``TWILIO_ACCOUNT_SID`` (optional: enables hang-up).
        twilio_auth_token: ``TWILIO_AUTH_TOKEN`` (optional: enables hang-up and signature checks).
        system_prompt: ``BOT_SYSTEM_PROMPT``: the bot's instructions, and so its language.
        voice: ``BOT_VOICE``: the OpenAI voice.
        realtime_url: ``OPENAI_REALTIME_URL``: the Realtime websocket (the simulator points it at a stand-in).
        model: ``OPENAI_REALTIME_MODEL``.
        start_timeout_secs: How long a websocket may take to send Twilio's ``start``.
        allow_unsigned: ``ALLOW_UNSIGNED=1``: serve without a Twilio auth token, checking nothing. For local
            tests only (the simulator sets it); without it a missing token is a configuration error.
        stream_binding_secret: ``STREAM_BINDING_SECRET``: the key of the per-call stream binding tokens
            (default: the auth token). Give every process behind a load balancer the same one.
        max_calls: ``MAX_CALLS``: calls run at once, by this process (no ``REDIS_URL``) or by the whole
            fleet (with ``REDIS_URL``); over it the webhook answers "busy" and a media stream is refused
            before any OpenAI session.
        max_calls_per_process: ``MAX_CALLS_PER_PROCESS``: this process's own cap (default ``MAX_CALLS``);
            with ``REDIS_URL`` it applies under the global cap, and alone while Redis is unreachable.
        max_calls_per_caller: ``MAX_CALLS_PER_CALLER``: calls one ``From`` number may have running at once
            (fleet-wide with ``REDIS_URL``); unset: no limit.
        redis_url: ``REDIS_URL`` (``redis://[:password@]host:port/db``): share the caps through Redis
            (the ``[fleet]`` extra); unset: every cap is per process.
        redis_lease_secs: ``REDIS_LEASE_SECS``: how long a dead process's slots stay counted.
        inactivity_timeout_secs: ``INACTIVITY_TIMEOUT_SECS``: a call whose Twilio media stops for this long
            is ended (Twilio sends media every 20 ms, silence included).
        transfer_to: ``TRANSFER_TO``: an E.164 number (``+15551234567``) a caller is sent to (``<Dial>``)
            when this process takes no call (draining, or at ``MAX_CALLS``); unset:
            ``<Reject reason="busy"/>``.
        drain_timeout_secs: ``DRAIN_TIMEOUT_SECS``: after SIGTERM, how long live calls may go on before
            they are ended and the process exits.
        record_dir: ``CALL_RECORD_DIR``: record each call there (stereo WAV + timeline, docs/call-records.md).
    """

    openai_api_key: str = field(repr=False)
    public_host: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    system_prompt: str = DEFAULT_PROMPT
    voice: str = "marin"
    realtime_url: str = DEFAULT_REALTIME_URL
    model: str = "gpt-realtime"
    start_timeout_secs: float = 10.0
    allow_unsigned: bool = False
    stream_binding_secret: str | None = field(default=None, repr=False)
    max_calls: int = DEFAULT_MAX_CALLS
    max_calls_per_process: int | None = None
    max_calls_per_caller: int | None = None
    redis_url: str | None = field(default=None, repr=False)
    redis_lease_secs: float = 30.0
    inactivity_timeout_secs: float = 10.0
    transfer_to: str | None = None
    drain_timeout_secs: float = 60.0
    record_dir: str | None = None

    @property
    def process_cap(self) -> int:
        """The cap of one process: ``MAX_CALLS_PER_PROCESS``, else ``MAX_CALLS``."""
        if self.max_calls_per_process is None:
            return self.max_calls
        if self.redis_url:  # under the global cap, and alone while Redis is unreachable
            return self.max_calls_per_process
        return min(self.max_calls, self.max_calls_per_process)

    @property
    def checks_signatures(self) -> bool:
        """Whether webhooks and media streams must carry Twilio's signature (an auth token is set)."""
        return bool(self.twilio_auth_token)

    def __repr__(self) -> str:  # never show secrets
        return (
            f"BotSettings(public_host={self.public_host!r}, voice={self.voice!r}, "
            f"realtime_url={self.realtime_url!r}, checks_signatures={self.checks_signatures})"
        )


def load_settings(env: Mapping[str, str] | None = None) -> BotSettings:
    """Read settings from the environment (after ``.env``, when the caller loaded one).

    Args:
        env: The mapping to read (defaults to ``os.environ``).

    Returns:
        The settings.

    Raises:
        ConfigError: Naming the setting that is missing or invalid.
    """
    env = os.environ if env is None else env
    key = env.get("OPENAI_API_KEY", "").strip()
    if not key:
        raise ConfigError("OPENAI_API_KEY is not set: put it in the environment or in .env")
    sid, token = env.get("TWILIO_ACCOUNT_SID") or None, env.get("TWILIO_AUTH_TOKEN") or None
    if bool(sid) != bool(token):
        missing = "TWILIO_AUTH_TOKEN" if sid else "TWILIO_ACCOUNT_SID"
        raise ConfigError(f"{missing} is not set: Twilio credentials go in pairs (or leave both unset)")
    binding_secret = env.get("STREAM_BINDING_SECRET") or None
    if token and len(binding_secret or token) < _MIN_SECRET_CHARS:
        name = "STREAM_BINDING_SECRET" if binding_secret else "TWILIO_AUTH_TOKEN"
        raise ConfigError(
            f"{name} is too short to key stream-binding tokens (need {_MIN_SECRET_CHARS}+ characters; "
            "a Twilio auth token has 32)"
        )
    allow_unsigned = (env.get(UNSIGNED_SETTING) or "").strip().lower() in _TRUE
    if not token and not allow_unsigned:
        raise ConfigError(
            "TWILIO_AUTH_TOKEN is not set: without it the bot would serve anyone who finds its URL. Set "
            f"TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or {UNSIGNED_SETTING}=1 for local tests only"
        )
    transfer_to = (env.get("TRANSFER_TO") or "").strip() or None
    if transfer_to is not None and not _E164.fullmatch(transfer_to):
        raise ConfigError(f"TRANSFER_TO={transfer_to!r} is not an E.164 number like +15551234567")
    host = (env.get("PUBLIC_HOST") or "").strip().removeprefix("https://").removeprefix("wss://").rstrip("/")
    return BotSettings(
        openai_api_key=key,
        public_host=host or None,
        twilio_account_sid=sid,
        twilio_auth_token=token,
        system_prompt=env.get("BOT_SYSTEM_PROMPT") or DEFAULT_PROMPT,
        voice=env.get("BOT_VOICE") or "marin",
        realtime_url=env.get("OPENAI_REALTIME_URL") or DEFAULT_REALTIME_URL,
        model=env.get("OPENAI_REALTIME_MODEL") or "gpt-realtime",
        allow_unsigned=allow_unsigned,
        stream_binding_secret=binding_secret,
        max_calls=int(_number(env, "MAX_CALLS", DEFAULT_MAX_CALLS, minimum=1, kind=int)),
        max_calls_per_process=_optional_int(env, "MAX_CALLS_PER_PROCESS"),
        max_calls_per_caller=_optional_int(env, "MAX_CALLS_PER_CALLER"),
        redis_url=_redis_url(env),
        redis_lease_secs=_number(env, "REDIS_LEASE_SECS", 30.0, minimum=1),
        inactivity_timeout_secs=_number(env, "INACTIVITY_TIMEOUT_SECS", 10.0, minimum=0.5),
        transfer_to=transfer_to,
        drain_timeout_secs=_number(env, "DRAIN_TIMEOUT_SECS", 60.0, minimum=0),
        record_dir=(env.get("CALL_RECORD_DIR") or "").strip() or None,
    )


def _number(
    env: Mapping[str, str], name: str, default: float, *, minimum: float, kind: type = float
) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(kind(raw))
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}={raw!r} is not {what}") from None
    if not value >= minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum:g}")
    return value


def _optional_int(env: Mapping[str, str], name: str) -> int | None:
    if not (env.get(name) or "").strip():
        return None
    return int(_number(env, name, 0, minimum=1, kind=int))


def _redis_url(env: Mapping[str, str]) -> str | None:
    url = (env.get("REDIS_URL") or "").strip()
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):  # the value may hold a password: not shown
        raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://")
    return url
