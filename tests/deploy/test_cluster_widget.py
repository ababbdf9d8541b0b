"""The cluster's notebook face: HTML snapshot and a widget with scale and adapt controls, for
any kind of cluster (the widget reads the cluster's scheduler_info, not an in-process
scheduler), run from a thread so the kernel stays free."""
from __future__ import annotations

import pytest
from _util import wait_for

import futurelab
from futurelab.jupyter import cluster_widget as cw

pytestmark = pytest.mark.timeout(120)


def test_widget_scales_in_a_thread() -> None:
    with futurelab.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                dashboard_address=None) as cluster:
        view = cw.ClusterWidget(cluster)
        assert view.n.value == 1 and "LocalCluster-0" in view.table.value
        view.n.value = 2
        view.scale().join(30)
        assert len(cluster.workers) == 2
        assert "LocalCluster-1" in view.table.value and view.status.value == "2 workers"
        assert not view.scale_button.disabled


def test_widget_adapts_and_shows_it() -> None:
    with futurelab.LocalCluster(n_workers=0, threads_per_worker=1, processes=False,
                                dashboard_address=None) as cluster:
        view = cw.ClusterWidget(cluster)
        view.minimum.value, view.maximum.value = 2, 3
        view.adapt_button.click()
        wait_for(lambda: len(cluster.workers) == 2, timeout=30, what="adapt to the minimum")
        assert cluster._adaptive is not None and cluster._adaptive.maximum == 3
        wait_for(lambda: "adapting 2–3" in view.table.value, timeout=30,
                 what="the widget redrawn by the cluster's refresh")


def test_widget_shows_a_bad_request_instead_of_raising() -> None:
    with futurelab.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as c:
        view = cw.ClusterWidget(c)
        view.minimum.value, view.maximum.value = 3, 1
        view.adapt().join(30)
        assert "larger than maximum" in view.status.value
        assert c._adaptive is None


def test_clients_own_asynchronous_cluster(client: futurelab.Client) -> None:
    view = cw.ClusterWidget(client.cluster)
    view.n.value = 3
    view.scale_button.click()
    wait_for(lambda: view.status.value == "3 workers", timeout=30, what="scaled")
    assert len(client.cluster.workers) == 3


def test_snapshot_reads_scheduler_info_for_a_remote_scheduler() -> None:
    class Remote:  # what a cluster whose scheduler runs elsewhere offers the views
        name, status, processes = "abc", "running", True
        scheduler = None
        scheduler_address = "tcp://10.0.0.1:8786"
        dashboard_link = "http://10.0.0.1:8787/status"
        scheduler_info = {"workers": {
            "tcp://10.0.0.2:1": {"name": "SSHCluster-0", "nthreads": 2,
                                 "memory_limit": 2**30,
                                 "metrics": {"executing": 1, "in_memory": 3, "memory": 2048}}}}

    html = cw.cluster_html(Remote())  # type: ignore[arg-type]
    for text in ("SSHCluster-0", "tcp://10.0.0.1:8786", "1 workers", "2 threads",
                 "1.00 GiB", "2.00 kiB", 'href="http://10.0.0.1:8787/status"'):
        assert text in html, text


def test_mimebundle_outside_a_kernel_is_html_and_text() -> None:
    with futurelab.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as c:
        bundle = c._repr_mimebundle_()
        assert set(bundle) == {"text/plain", "text/html"}
        assert bundle["text/plain"].startswith("LocalCluster(")
