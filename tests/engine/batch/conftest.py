"""Shared fixtures of the batch tests: a real two-process Dask LocalCluster per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

#: one BLAS/OpenMP thread per worker process (2 workers on the 2-core test machine)
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env=THREAD_ENV,
        scheduler_kwargs={"dashboard_address": ":0"},
    )
    c = Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
