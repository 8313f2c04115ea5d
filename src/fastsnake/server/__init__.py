"""The processes: ``serve()`` (``serve``) picks the process model from the
``plan``; the ``supervisor`` runs SO_REUSEPORT ``worker`` processes, or
``inprocess`` runs one worker in this process; ``listening`` sockets, ``tls``
contexts and ``memory`` tuning are theirs. See docs/architecture.md.
"""
