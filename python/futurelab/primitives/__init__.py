"""Coordination primitives: Queue, Variable, Lock, Event, Semaphore, Pub/Sub.

One module per primitive, each holding its pure ``<X>State``, its scheduler extension and its
client proxy; ``_waiters`` (the shared FIFO of parked requests), ``_base`` (Effects, pins),
``_shell`` (the scheduler half they share) and ``_proxy`` (the client half they share).  The
public names are re-exported from :mod:`futurelab`.
"""
