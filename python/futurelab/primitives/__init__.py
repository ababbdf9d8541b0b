"""Coordination primitives, the client side: Queue, Variable, Lock, Event, Semaphore, Pub/Sub.

One module per primitive holds its client proxy (a picklable object holding only a name, which
finds its Client lazily); ``_proxy`` is the client half they share.  Their scheduler halves (pure
states and extensions) live in :mod:`futurelab.scheduler.primitives`; the two share only the wire
vocabulary (:mod:`futurelab.protocol.messages.primitives`).  The public names are re-exported from
:mod:`futurelab`.
"""
