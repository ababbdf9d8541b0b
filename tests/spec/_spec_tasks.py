"""Task functions shared by the spec conformance tests (tests/spec).

Everything here runs *on workers*.  conftest.py registers this module with
``cloudpickle.register_pickle_by_value`` and puts its folder on ``sys.path`` /
``PYTHONPATH``, so worker processes can run these functions whether the
framework pickles them by value or by reference.

Rules for this module:

* No module-level mutable state is shared between the test process and the
  workers: coordinate through files (a test's ``tmp_path``) instead.
* Nothing here waits forever: every loop has a deadline, so a failing test
  cannot leave a worker thread busy for the rest of the session.
* Task functions may sleep to simulate work or to poll a file; the *tests*
  never sleep, they wait on conditions (see ``_spec_support.wait_for``).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import futurelab

#: Upper bound for any wait inside a task, in seconds.
TASK_DEADLINE = 60.0


# --- the spec's examples ------------------------------------------------------------


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def div(x, y):
    return x / y


def double(x):
    return 2 * x


def identity(x):
    return x


def my_function(df):
    """Stand-in for the spec's ``my_function(df)``: number of rows."""
    return len(df)


def score(x):
    return (x * 37) % 101


def analyze(results):
    return sum(results)


def func(x):
    return x * x


# --- small helpers -------------------------------------------------------------------


def slowinc(x, delay=0.02):
    time.sleep(delay)  # simulated work
    return x + 1


def total(*args, **kwargs):
    """Sum every number found in (nested) args and kwargs."""

    def walk(obj):
        if isinstance(obj, dict):
            return sum(walk(v) for v in obj.values())
        if isinstance(obj, (list, tuple, set)):
            return sum(walk(v) for v in obj)
        return obj

    return walk(list(args)) + walk(kwargs)


def describe(obj):
    """Structure of a (nested) argument after futures were replaced by values."""
    if isinstance(obj, dict):
        return {k: describe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [describe(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(describe(v) for v in obj)
    return (type(obj).__name__, obj)


def add_kw(x, y=0, z=0):
    return x + y + z


def accept_anything(*args, **kwargs):
    return None


def raise_value_error(message):
    raise ValueError(message)


def worker_address(*_):
    return futurelab.get_worker().address


def ret_unpicklable():
    return threading.Lock()


class UnpicklableError(Exception):
    """An exception that refuses to be pickled."""

    def __reduce__(self):
        raise TypeError("UnpicklableError refuses to be pickled")


def raise_unpicklable(message):
    raise UnpicklableError(message)


# --- file gates: let a test hold a task "pending" without sleeping in the test -------


def wait_for_path(path, timeout=TASK_DEADLINE):
    """Block (in the task) until ``path`` exists."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {path} was never opened")
        time.sleep(0.005)


def gated(path, value=None):
    """Return ``value`` once the file ``path`` exists."""
    wait_for_path(path)
    return value


def gated_inc(path, x):
    wait_for_path(path)
    return x + 1


def touch(path, content="done"):
    """Write ``content`` to ``path`` atomically (the write is the side effect)."""
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    with open(tmp, "w") as f:
        f.write(str(content))
    os.replace(tmp, path)
    return str(content)


def touch_after(dep, path):
    """Depends on ``dep``; writes ``path``.  Used to prove a task never ran."""
    return touch(path, dep)


def fail_unless_exists(path, value):
    """Err until the test creates ``path``: a task that succeeds on retry."""
    if not os.path.exists(path):
        raise RuntimeError(f"flag {os.path.basename(path)} missing")
    return value


# --- the spec's fire-and-forget pipeline (load -> process -> write) ----------------


def load(filename):
    return Path(filename).read_text()


def process(data):
    return data.upper()


def write(data, out_filename):
    return touch(out_filename, data)


# --- tasks from tasks ----------------------------------------------------------------


def spec_my_function(x):
    """The spec's ``my_function``: submit two tasks from a task and gather them."""
    client = futurelab.get_client()
    a = client.submit(inc, x)
    b = client.submit(double, x)
    a, b = client.gather([a, b])
    return a + b


def client_identity():
    """Facts about get_client() inside a task."""
    first = futurelab.get_client()
    second = futurelab.get_client()
    return {
        "same_object": first is second,
        "workers": sorted(first.scheduler_info()["workers"]),
    }


def spec_f(n):
    """The spec's ``f(n)``: secede, map and gather, rejoin, analyze."""
    client = futurelab.get_client()
    futurelab.secede()  # secede while we wait for results to come back
    futures = client.map(func, range(n))
    results = client.gather(futures)
    futurelab.rejoin()  # block until a slot is open in the thread pool
    return analyze(results)


def seceded_wait(started_path, gate_path):
    """Secede, announce it through ``started_path``, then wait for ``gate_path``."""
    futurelab.get_client()
    futurelab.secede()
    touch(started_path)
    wait_for_path(gate_path)
    futurelab.rejoin()
    return "rejoined"


def with_worker_client(n):
    with futurelab.worker_client() as client:
        futures = client.map(inc, range(n))
        return sum(client.gather(futures))


def process_reading(reading, out_dir):
    return touch(os.path.join(out_dir, f"reading-{reading}"), reading)


def monitor(device_dir, stop_path, out_dir, do_secede=True, max_readings=500):
    """The spec's monitor pattern, bounded: stops when ``stop_path`` appears.

    ``device.read_data()`` is simulated by a counter; each reading is processed by a
    fire-and-forget task that writes ``out_dir/reading-<device>-<n>``.
    """
    client = futurelab.get_client()
    if do_secede:
        futurelab.secede()  # remove this task from the thread pool
    device = os.path.basename(device_dir)
    deadline = time.monotonic() + TASK_DEADLINE
    n = 0
    while not os.path.exists(stop_path) and n < max_readings:
        if time.monotonic() > deadline:
            break
        data = f"{device}-{n}"  # data = device.read_data()
        future = client.submit(process_reading, data, out_dir, pure=False)
        futurelab.fire_and_forget(future)
        n += 1
        time.sleep(0.01)  # the device produces readings at a bounded rate
    touch(os.path.join(out_dir, f"stopped-{device}"), n)
    return n
