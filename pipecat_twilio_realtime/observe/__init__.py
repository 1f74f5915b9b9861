"""Watching a call: the per-call observer, the noise checks it and the service share, and metrics.

``observer.py`` holds :class:`MediaStatsObserver` (frame stats, rx/tx totals, the call summary);
``noise.py`` tells speech from noise in μ-law audio; ``metrics.py`` exports Prometheus metrics;
``recording.py`` records the call as heard, ``timeline.py`` logs and draws its events, ``callrecord.py``
writes both at the call's end.
"""
