"""A cluster for the dashboard's browser test (labextension/ui-tests/tests/dashboard.spec.ts).

Starts ``LocalCluster(processes=False)`` with its dashboard on a free loopback port and prints one
JSON line ``{"url", "client"}``; then runs commands read from stdin, one per line, answering each
with a JSON line: ``run N T`` (N tasks ``slow`` of T seconds, not waited for), ``lock`` / ``unlock``
(the Client takes or gives back Lock("db")), ``actor`` (a Counter actor), ``fail`` (a task that raises), ``block`` (a task
that waits until cancelled; answers ``cancelled`` once its Future is), ``quit``.
"""
from __future__ import annotations

import json
import sys
import threading
import time

from futurelab import Client, LocalCluster, Lock

RELEASE = threading.Event()


def slow(x: int, t: float) -> int:
    time.sleep(t)
    return x


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def incr(self) -> int:
        self.n += 1
        return self.n


def bad(x: int) -> int:
    raise ValueError(f"boom {x}")


def blocked() -> None:
    RELEASE.wait(60)


def say(**msg: object) -> None:
    print(json.dumps(msg), flush=True)


def main() -> None:
    cluster = LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                           dashboard_address="127.0.0.1:0")
    client = Client(cluster)
    say(url=client.dashboard_link, client=client.id)
    keep: list[object] = []
    lock = Lock("db")
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "run":
            n, t = int(args[0]), float(args[1])
            keep.append(client.map(slow, range(n), t=t, pure=False))
            say(ok=cmd)
        elif cmd == "lock":
            lock.acquire()
            say(ok=cmd)
        elif cmd == "unlock":
            lock.release()
            say(ok=cmd)
        elif cmd == "actor":
            counter = client.submit(Counter, actor=True).result(timeout=30)
            keep.append(counter)
            say(ok=cmd, n=counter.incr().result(timeout=30))
        elif cmd == "fail":
            keep.append(client.submit(bad, 1))
            say(ok=cmd)
        elif cmd == "block":
            fut = client.submit(blocked, pure=False)
            keep.append(fut)
            say(ok=cmd, key=fut.key)

            def watch(f: object = fut) -> None:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and f.status != "cancelled":  # type: ignore[attr-defined]
                    time.sleep(0.02)
                say(cancelled=f.status == "cancelled")  # type: ignore[attr-defined]
            threading.Thread(target=watch, daemon=True).start()
        elif cmd == "quit":
            break
    RELEASE.set()
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
