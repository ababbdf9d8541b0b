"""Several hosts: scheduler, workers and client each in a network namespace of their own.

The test builds a small switched network (a bridge in one namespace, one veth pair per host,
addresses in 10.77.0.0/24 that exist only inside these namespaces), runs an authenticated
cluster across it, loses one worker host mid-run (its link down, or everything it sends
dropped) and checks that the work completes on the others.  It needs root and iproute2;
elsewhere it is skipped, saying why.
"""
from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
from _netns import Network

pytestmark = pytest.mark.timeout(240)

CLIENT = textwrap.dedent("""
    import sys, time
    from futurelab import Client, wait
    from futurelab.security import Security

    def work(i, *deps):
        time.sleep(0.05)
        return i + sum(deps)

    client = Client(sys.argv[1], security=Security.from_file(sys.argv[2]), timeout=30)
    deadline = time.time() + 60
    while len(client.scheduler_info()["workers"]) < 2:
        assert time.time() < deadline, "workers did not join"
        time.sleep(0.05)
    roots = [client.submit(work, i, pure=False) for i in range(40)]
    mids = [client.submit(work, 0, roots[i], roots[i + 1], pure=False) for i in range(39)]
    total = client.submit(sum, mids)
    wait(roots[:10], timeout=60)
    print("STARTED", flush=True)
    t0 = time.time()
    value = total.result(timeout=120)
    expected = sum(i + i + 1 for i in range(39))
    print("RESULT", value, expected, round(time.time() - t0, 2),
          sorted(w["name"] for w in client.scheduler_info()["workers"].values()), flush=True)
""")


@pytest.mark.parametrize("fault", ["cut", "blackhole"])
def test_worker_host_lost_mid_run(net: Network, tmp_path: Path, fault: str) -> None:
    """``cut``: the host's link goes down; ``blackhole``: its packets are dropped, link up."""
    secret = tmp_path / "cluster.secret"
    sched_addr = f"tcp://{net.ip('s')}:8786"
    sched = net.run("s", "-m", "futurelab", "scheduler", "--host", net.ip("s"), "--port", "8786",
                    "--auth-file", str(secret))
    assert "scheduler at" in sched.next_line()
    for w in ("w1", "w2"):
        net.run(w, "-m", "futurelab", "worker", sched_addr, "--host", net.ip(w), "--name", w,
                "--auth-file", str(secret), "--log-level", "error")
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    client = net.run("c", str(script), sched_addr, str(secret))
    line = client.line_starting("STARTED", timeout=90)
    assert line.startswith("STARTED"), line + client.rest()
    t0 = time.monotonic()
    getattr(net, fault)("w2")
    out = client.line_starting("RESULT", timeout=150)
    assert out.startswith("RESULT"), out + client.rest()
    _, value, expected, *_rest = out.split()
    assert value == expected
    assert "'w1'" in out and "'w2'" not in out  # the cut host was dropped, w1 did the rest
    print(f"\n[netns] worker host {fault}: work completed on the others "
          f"{time.monotonic() - t0:.1f} s later ({out.strip()})")
