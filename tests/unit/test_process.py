"""covenant.stack._process, _ports and _packages: the stack's process plumbing."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from covenant.kernel.errors import ErrorKind, MissingPackagesError
from covenant.stack import _packages
from covenant.stack._packages import ensure_packages
from covenant.stack._ports import free_port, port_is_free
from covenant.stack._process import is_alive, proc_start_time, spawn, stop, tail

Spawner = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawned(tmp_path: Path) -> Iterator[Spawner]:
    """``spawn`` that kills whatever is left of its children at teardown."""
    children: list[subprocess.Popen[bytes]] = []

    def start(argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        log = kwargs.pop("log", tmp_path / "logs" / "child.log")
        assert isinstance(log, Path)
        child = spawn(argv, log=log, **kwargs)  # type: ignore[arg-type]
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:  # only a child not yet reaped: its pid cannot be recycled
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=10)


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(0.02)


def _dead(pid: int) -> bool:
    return not is_alive(pid)


# --- spawn / is_alive -----------------------------------------------------------------------


def test_spawn_starts_a_live_process_with_a_log(spawned: Spawner, tmp_path: Path) -> None:
    log = tmp_path / "logs" / "sleep.log"
    child = spawned(["sleep", "30"], log=log)
    assert is_alive(child.pid)
    start = proc_start_time(child.pid)
    assert isinstance(start, int)
    assert is_alive(child.pid, start)
    assert log.is_file()
    assert "start: sleep" in log.read_text(encoding="utf-8")


def test_is_alive_with_a_wrong_start_time_is_false(spawned: Spawner) -> None:
    child = spawned(["sleep", "30"])
    start = proc_start_time(child.pid)
    assert start is not None
    assert not is_alive(child.pid, start + 1)
    assert is_alive(child.pid)  # it is still running; the pid is just not "ours"


def test_spawned_process_leads_its_own_session(spawned: Spawner) -> None:
    child = spawned(["sleep", "30"])
    assert os.getsid(child.pid) == child.pid
    assert os.getsid(child.pid) != os.getsid(0)


def test_spawn_appends_output_and_passes_env_and_cwd(spawned: Spawner, tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    workdir = tmp_path / "work"
    workdir.mkdir()
    first = spawned(
        ["bash", "-c", 'echo "value=$COVENANT_TEST_VALUE cwd=$PWD"'],
        log=log,
        env={"COVENANT_TEST_VALUE": "forty-two"},
        cwd=workdir,
    )
    first.wait(timeout=10)
    second = spawned(["echo", "second run"], log=log)
    second.wait(timeout=10)
    text = log.read_text(encoding="utf-8")
    assert f"value=forty-two cwd={workdir}" in text
    assert "second run" in text
    assert text.index("forty-two") < text.index("second run")  # appended, not truncated


def test_is_alive_of_a_reaped_process_is_false(spawned: Spawner) -> None:
    child = spawned(["true"])
    child.wait(timeout=10)
    assert not is_alive(child.pid)
    assert proc_start_time(child.pid) is None


def test_is_alive_of_an_unreaped_zombie_is_false(spawned: Spawner) -> None:
    child = spawned(["true"])
    # Not waited on: it lingers as a zombie until is_alive reaps it.
    _wait_for(lambda: _dead(child.pid))
    assert proc_start_time(child.pid) is None


# --- stop -----------------------------------------------------------------------------------


def test_stop_terminates_within_its_timeout(spawned: Spawner) -> None:
    child = spawned(["sleep", "30"])
    start = proc_start_time(child.pid)
    began = time.monotonic()
    assert stop(child.pid, start, timeout=5.0) is True
    assert time.monotonic() - began < 5.0
    assert not is_alive(child.pid)


def test_stop_signals_the_whole_process_group(spawned: Spawner, tmp_path: Path) -> None:
    log = tmp_path / "group.log"
    child = spawned(["bash", "-c", "sleep 30 & echo grandchild=$!; wait"], log=log)
    _wait_for(lambda: "grandchild=" in log.read_text(encoding="utf-8"))
    grandchild = int(log.read_text(encoding="utf-8").split("grandchild=")[1].split()[0])
    assert is_alive(grandchild)
    assert stop(child.pid, proc_start_time(child.pid), timeout=5.0) is True
    assert not is_alive(child.pid)
    _wait_for(lambda: _dead(grandchild), timeout=5.0)


def test_stop_of_a_dead_pid_returns_false(spawned: Spawner) -> None:
    child = spawned(["true"])
    start = proc_start_time(child.pid)
    child.wait(timeout=10)
    assert stop(child.pid, start, timeout=1.0) is False
    assert stop(child.pid, None, timeout=1.0) is False


def test_stop_refuses_a_pid_with_another_start_time(spawned: Spawner) -> None:
    child = spawned(["sleep", "30"])
    start = proc_start_time(child.pid)
    assert start is not None
    assert stop(child.pid, start + 1, timeout=1.0) is False
    assert is_alive(child.pid, start)  # someone else's process is left alone


def test_stop_kills_a_child_that_ignores_sigterm(spawned: Spawner, tmp_path: Path) -> None:
    log = tmp_path / "stubborn.log"
    child = spawned(["bash", "-c", 'trap "" TERM; echo trapped; sleep 30'], log=log)
    _wait_for(lambda: "trapped" in log.read_text(encoding="utf-8"))
    start = proc_start_time(child.pid)
    began = time.monotonic()
    assert stop(child.pid, start, timeout=0.5) is True
    elapsed = time.monotonic() - began
    assert not is_alive(child.pid)
    assert elapsed >= 0.5  # SIGTERM was ignored for the whole timeout...
    assert elapsed < 5.0  # ...then SIGKILL ended it promptly


# --- tail -----------------------------------------------------------------------------------


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    log.write_text("".join(f"line {i}\n" for i in range(1, 51)) + "\n\n", encoding="utf-8")
    assert tail(log, 3) == "line 48\nline 49\nline 50"
    default = tail(log).splitlines()
    assert len(default) == 20
    assert default[0] == "line 31"
    assert default[-1] == "line 50"


def test_tail_of_a_short_or_missing_log(tmp_path: Path) -> None:
    short = tmp_path / "short.log"
    short.write_text("only\n", encoding="utf-8")
    assert tail(short, 5) == "only"
    assert tail(tmp_path / "missing.log") == ""


def test_tail_of_undecodable_bytes(tmp_path: Path) -> None:
    log = tmp_path / "binary.log"
    log.write_bytes(b"ok\n\xff\xfe broken\nlast\n")
    assert tail(log, 2).endswith("broken\nlast")


# --- ports ----------------------------------------------------------------------------------


def _unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_free_port_returns_the_preferred_one_when_free() -> None:
    preferred = _unused_port()
    assert port_is_free(preferred)
    assert free_port(preferred) == preferred


def test_free_port_avoids_a_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        held = int(holder.getsockname()[1])
        assert not port_is_free(held)
        chosen = free_port(held)
        assert chosen != held
        assert 0 < chosen < 65536
        assert port_is_free(chosen)


def test_free_port_avoids_taken_ports() -> None:
    preferred = _unused_port()
    chosen = free_port(preferred, taken={preferred})
    assert chosen != preferred
    assert port_is_free(chosen)


def test_free_port_without_preference() -> None:
    chosen = free_port()
    assert 0 < chosen < 65536
    assert port_is_free(chosen)


# --- packages -------------------------------------------------------------------------------


def _no_apt(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
    raise AssertionError(f"apt-get must not run here: {args}")


def test_missing_package_without_install_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_packages._PROBES, "prometheus", lambda: False)
    monkeypatch.setitem(_packages._PROBES, "postgresql", lambda: True)
    monkeypatch.setattr(_packages.subprocess, "run", _no_apt)
    reported: list[str] = []
    with pytest.raises(MissingPackagesError) as caught:
        ensure_packages(["postgresql", "prometheus"], allow_install=False, report=reported.append)
    error = caught.value
    assert error.packages == ["prometheus"]
    assert "prometheus" in str(error)
    assert "postgresql" not in str(error)
    assert "apt-get install -y prometheus" in str(error)
    assert error.kind is ErrorKind.ENVIRONMENT
    assert reported == []


def test_several_missing_packages_are_named_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_packages._PROBES, "prometheus-alertmanager", lambda: False)
    monkeypatch.setitem(_packages._PROBES, "postgresql", lambda: False)
    monkeypatch.setattr(_packages.subprocess, "run", _no_apt)
    with pytest.raises(MissingPackagesError) as caught:
        ensure_packages(
            ["prometheus-alertmanager", "postgresql"], allow_install=False, report=print
        )
    assert "apt-get install -y postgresql prometheus-alertmanager" in str(caught.value)


def test_nothing_missing_returns_without_reporting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(_packages._PROBES):
        monkeypatch.setitem(_packages._PROBES, name, lambda: True)
    monkeypatch.setattr(_packages.subprocess, "run", _no_apt)
    reported: list[str] = []
    ensure_packages(list(_packages._PROBES), allow_install=True, report=reported.append)
    assert reported == []
