"""The Twilio side of the wire: Media Streams in and out of the pipeline, and who may open one.

``protocol.py`` is the sans-I/O core (parse inbound events, build the three outbound messages);
``serializer.py`` is the Pipecat serializer built on it, ``stats.py`` what it counts, ``frames.py`` the
mark/stop frames it exchanges with the pipeline and ``tap.py`` the hook a call recorder listens on.
Who may open a stream: ``security.py`` (webhook and handshake signatures), ``binding.py`` (a stream bound
to its call), ``limits.py`` (call caps, per-caller limits, inactivity), ``shared_limits.py`` (the same
caps shared by a fleet through Redis). ``playout.py`` sends reply audio a bounded lead ahead of its play
time; ``rest.py`` is the REST client that hangs up, updates and transfers a call.
"""
