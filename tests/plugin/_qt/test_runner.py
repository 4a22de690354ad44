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
