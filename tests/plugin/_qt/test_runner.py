"""Runner: replace and latest-wins policies, stale signals dropped, engine errors as notifications."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from napari_mrrecon._qt.runner import Failure, Job, Runner


def _counting(label: str, n: int, seen: list[tuple[str, Any]]) -> Job:
    def steps() -> Generator[Any, None, Any]:
        yield from range(n)
        return label

    return Job(
        steps,
        on_yielded=lambda i: seen.append((label, i)),
        on_returned=lambda value: seen.append(("returned", value)),
        label=label,
    )


def _slow(label: str, seen: list[tuple[str, Any]]) -> Job:
    def steps() -> Generator[Any, None, Any]:
        import time

        for i in range(100_000):  # ~100 s unless stopped
            time.sleep(0.001)
            yield i
        return label

    return Job(steps, on_returned=lambda value: seen.append(("returned", value)), label=label)


def test_replace_policy_drops_the_superseded_job(qtbot: Any) -> None:
    runner = Runner()
    seen: list[tuple[str, Any]] = []
    runner.submit(_slow("old", seen))
    with qtbot.waitSignal(runner.busy_changed, timeout=30_000) as idle:
        runner.submit(_counting("new", 3, seen))
    assert idle.args == [False]
    assert ("returned", "old") not in seen
    assert seen[-1] == ("returned", "new")
    assert [i for label, i in seen if label == "new"] == [0, 1, 2]
    assert runner.generation == 2 and not runner.busy


def test_latest_wins_runs_the_newest_waiting_job_after_the_running_one(qtbot: Any) -> None:
    runner = Runner(latest_wins=True)
    seen: list[tuple[str, Any]] = []
    runner.submit(_slow("running", seen))
    assert runner.submit(_counting("dropped", 2, seen)) is None  # waits
    with qtbot.waitSignal(runner.busy_changed, timeout=30_000):
        runner.submit(_counting("newest", 2, seen))  # replaces the waiting job
    assert seen[-1] == ("returned", "newest")
    assert not any(label == "dropped" for label, _ in seen)
    assert runner.jobs_started == 2 and runner.jobs_cancelled == 1


def test_engine_error_becomes_one_notification_and_on_failed(qtbot: Any, monkeypatch: Any) -> None:
    from napari.utils import notifications

    from recon_engine.errors import ParameterError

    shown: list[str] = []
    monkeypatch.setattr(notifications, "show_error", shown.append)

    def steps() -> Generator[Any, None, Any]:
        yield None
        raise ParameterError("regularization weight must be ≥ 0,\n  got -1")

    failed: list[str] = []
    runner = Runner()
    with qtbot.waitSignal(runner.busy_changed, timeout=30_000, check_params_cb=lambda busy: not busy):
        runner.submit(Job(steps, on_failed=failed.append, context="phantom"))
    assert failed == ["regularization weight must be ≥ 0, got -1"]
    assert shown == ["phantom: regularization weight must be ≥ 0, got -1"]
    assert Failure("x").message == "x"


def test_a_stopped_job_has_its_generator_closed_in_the_worker_before_on_aborted(qtbot: Any) -> None:
    import threading

    cleaned: list[str] = []
    order: list[str] = []

    running = threading.Event()

    def steps() -> Generator[Any, None, Any]:
        try:
            for i in range(100_000):
                running.set()
                yield i
        finally:  # e.g. a training run saving its last checkpoint
            cleaned.append(threading.current_thread().name)
            order.append("closed")
        return "never"

    runner = Runner()
    returned: list[Any] = []
    job = Job(steps, on_returned=returned.append, on_aborted=lambda: order.append("aborted"))
    with qtbot.waitSignal(runner.busy_changed, timeout=30_000, check_params_cb=lambda busy: not busy):
        assert runner.submit(job) is not None
        assert running.wait(30)  # a job stopped before its first step has nothing to clean up
        runner.cancel()
    assert order == ["closed", "aborted"]
    assert cleaned and cleaned[0] != threading.main_thread().name  # the cleanup ran in the worker
    assert returned == []
    assert runner.jobs_cancelled == 1


def test_a_superseded_job_is_closed_too(qtbot: Any) -> None:
    import threading

    closed: list[bool] = []
    running = threading.Event()

    def steps() -> Generator[Any, None, Any]:
        try:
            while True:
                running.set()
                yield None
        finally:
            closed.append(True)

    runner = Runner()
    seen: list[tuple[str, Any]] = []
    runner.submit(Job(steps))
    assert running.wait(30)
    with qtbot.waitSignal(runner.busy_changed, timeout=30_000, check_params_cb=lambda busy: not busy):
        runner.submit(_counting("new", 2, seen))
    qtbot.waitUntil(lambda: closed == [True], timeout=30_000)
    assert seen[-1] == ("returned", "new")


def test_an_engine_warning_in_a_job_becomes_a_napari_warning_notification(qtbot: Any) -> None:
    import warnings

    from napari.utils.notifications import NotificationSeverity, notification_manager

    def steps() -> Generator[Any, None, Any]:
        warnings.warn("field of view 0.22 looks like metres; read as 220 mm", UserWarning, stacklevel=1)
        yield None
        return "done"

    before = len(notification_manager.records)
    returned: list[Any] = []
    runner = Runner()
    with qtbot.waitSignal(runner.busy_changed, timeout=30_000, check_params_cb=lambda busy: not busy):
        runner.submit(Job(steps, on_returned=returned.append))
    new = notification_manager.records[before:]
    assert returned == ["done"]
    assert [(n.severity, n.message) for n in new] == [
        (NotificationSeverity.WARNING, "field of view 0.22 looks like metres; read as 220 mm")
    ]
