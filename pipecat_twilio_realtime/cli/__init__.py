"""The command-line tools: ``pipecat-twilio-simulate`` and ``pipecat-twilio-standin``.

``simulate.py`` runs an offline call; ``standin.py`` serves the Realtime stand-in.
"""
