"""``pipecat-twilio-bot`` (or ``python -m pipecat_twilio_realtime.example``): serve the example bot."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .settings import ConfigError, load_settings

APP_FACTORY = "pipecat_twilio_realtime.example.app:create_app_from_env"
"""The import string each ``--workers`` process builds its app from (uvicorn's ``factory=True``)."""


def _parser() -> argparse.ArgumentParser:
    prog = (
        None
        if os.path.basename(sys.argv[0]) != "__main__.py"
        else "python -m pipecat_twilio_realtime.example"
    )
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve the example Twilio + OpenAI Realtime phone bot (settings from the environment "
        "and .env). SIGTERM drains: no new calls, live ones get DRAIN_TIMEOUT_SECS, then exit 0.",
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"), help="default: $HOST or 0.0.0.0")  # noqa: S104
    parser.add_argument(
        "--port", type=int, default=os.environ.get("PORT", "8765"), help="default: $PORT or 8765"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.environ.get("WORKERS", "1"),
        help="worker processes sharing the port (default: $WORKERS or 1); each call lives in one of them",
    )
    return parser  # argparse converts string defaults with ``type``: a bad $PORT is a usage error too


def _metrics_dir(workers: int) -> Path | None:
    """Prepare ``PROMETHEUS_MULTIPROC_DIR`` for several workers (a temporary one unless set).

    prometheus_client wants it empty at start (files of a previous run would be counted again); the
    workers inherit the variable and read it when they import it.

    Returns:
        A temporary directory to remove at exit, or ``None``.
    """
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return None
    if workers <= 1:
        return None
    temporary = Path(tempfile.mkdtemp(prefix="pipecat-twilio-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(temporary)
    return temporary


def main(argv: list[str] | None = None) -> None:
    """Serve the bot (``.env`` is read first).

    A missing or invalid setting stops it with one line naming the setting (exit status 2). With
    ``--workers N`` uvicorn runs N processes on the same port, each building the app from
    :data:`APP_FACTORY`; ``/metrics`` sums them through a ``PROMETHEUS_MULTIPROC_DIR``.

    Args:
        argv: The arguments (default: the command line's).
    """
    import uvicorn
    from dotenv import find_dotenv, load_dotenv

    load_dotenv(find_dotenv(usecwd=True))  # the .env of the working directory (or above), not the package's
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()  # checked here so a bad setting is one line, not N worker tracebacks
        if args.workers < 1:
            raise ConfigError(f"--workers={args.workers} must be at least 1")
    except ConfigError as e:
        print(f"pipecat-twilio-bot: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    temporary = _metrics_dir(args.workers)
    try:
        if args.workers == 1:
            from .app import create_app

            uvicorn.run(create_app(settings, handle_signals=True), host=args.host, port=args.port)
        else:
            uvicorn.run(APP_FACTORY, factory=True, workers=args.workers, host=args.host, port=args.port)
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    main()
