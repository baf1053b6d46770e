"""``covenant stack up|down|status``: real engines on loopback, one state directory."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from covenant.kernel.config import CovenantConfig
from covenant.kernel.endpoints import Endpoint, stack_credentials
from covenant.kernel.errors import EngineError, ErrorKind
from covenant.kernel.health import ProbeResult, probe_sync
from covenant.kernel.stackstate import EngineRecord, StackState, load_state, save_state
from covenant.stack import _process
from covenant.stack._engines import ENGINES, StackContext
from covenant.stack._packages import ensure_packages
from covenant.stack._ports import free_port, port_is_free

__all__ = ["EngineStatus", "StackManager", "port_is_free"]

Reporter = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class EngineStatus:
    name: str
    url: str | None
    pid: int | None
    running: bool
    health: ProbeResult | None

    @property
    def state(self) -> str:
        if not self.running:
            return "stopped"
        if self.health and self.health.healthy:
            return "degraded" if self.health.degraded else "healthy"
        return "unhealthy"


class StackManager:
    """Starts and stops the engines named in ``config.stack.engines``.

    Only processes recorded in the state file are touched, so a second
    ``up`` is a no-op, ``down`` never kills a stranger, and an engine that
    died is simply started again.
    """

    def __init__(self, config: CovenantConfig, report: Reporter = _quiet) -> None:
        self.config = config
        self.state_dir = config.stack.state_dir.resolve()
        self.report = report
        self.names: list[str] = [n for n in ENGINES if n in config.stack.engines]

    # -- helpers -----------------------------------------------------------------

    def _running(self, record: EngineRecord | None) -> bool:
        return record is not None and _process.is_alive(record.pid, record.proc_start)

    def _context(self, state: StackState) -> StackContext:
        ctx = StackContext(config=self.config, state_dir=self.state_dir)
        taken: set[int] = set()
        for name in self.names:
            record = state.engines.get(name)
            if self._running(record) and record is not None:
                port = record.port
            else:
                port = free_port(state.ports.get(name), taken)
            ctx.ports[name] = port
            taken.add(port)
            state.ports[name] = port
        return ctx

    def _wait_ready(self, name: str, ctx: StackContext, pid: int, start: int | None) -> float:
        engine = ENGINES[name]
        endpoint = engine.ready_endpoint(ctx)
        began = time.monotonic()
        deadline = began + self.config.stack.ready_timeout_s
        last: ProbeResult | None = None
        while time.monotonic() < deadline:
            if not _process.is_alive(pid, start):
                raise EngineError(
                    name,
                    "exited during start-up; last log lines:\n" + _process.tail(ctx.log(name)),
                )
            last = probe_sync(endpoint, timeout=2.0)
            # A fresh start is ready when it says so: a degraded event-worker has
            # not joined its consumer group yet.
            if last.healthy and not last.degraded:
                return time.monotonic() - began
            time.sleep(0.2)
        _process.stop(pid, start, self.config.stack.stop_timeout_s, engine.stop_signal)
        raise EngineError(
            name,
            f"not ready within {self.config.stack.ready_timeout_s:.0f}s "
            f"({(last.error or last.degraded) if last else 'no answer'}); last log lines:\n"
            + _process.tail(ctx.log(name)),
            kind=ErrorKind.UNREACHABLE,
        )

    def _reload_prometheus(self, ctx: StackContext) -> None:
        try:
            httpx.post(
                ctx.url("prometheus") + "/-/reload",
                headers=ctx.credentials("prometheus").http_headers(),
                timeout=10,
            ).raise_for_status()
        except httpx.HTTPError as exc:
            raise EngineError("prometheus", f"configuration reload failed: {exc}") from None

    # -- commands ----------------------------------------------------------------

    def up(self) -> dict[str, EngineRecord]:
        """Start every engine that is not running; return the records of all of them."""
        packages = [p for n in self.names for p in ENGINES[n].packages]
        ensure_packages(
            packages,
            allow_install=self.config.stack.install_missing_packages,
            report=self.report,
        )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = load_state(self.state_dir)
        ctx = self._context(state)
        prometheus_config_before = None
        if "prometheus" in self.names:
            path = ENGINES["prometheus"].config_path(ctx)  # type: ignore[attr-defined]
            prometheus_config_before = path.read_text() if path.exists() else None

        started: set[str] = set()
        for name in self.names:
            engine = ENGINES[name]
            record = state.engines.get(name)
            engine.prepare(ctx)
            if self._running(record) and record is not None:
                result = probe_sync(engine.ready_endpoint(ctx), timeout=2.0)
                if result.healthy:
                    shown = Endpoint(name, record.url, "stack").display
                    self.report(f"{name}: already running at {shown} (pid {record.pid})")
                    continue
                self.report(f"{name}: running but not answering ({result.error}); restarting")
                _process.stop(
                    record.pid,
                    record.proc_start,
                    self.config.stack.stop_timeout_s,
                    engine.stop_signal,
                )
            port = ctx.ports[name]
            if not port_is_free(port):
                raise EngineError(name, f"port {port} on 127.0.0.1 is taken by another process")
            self.report(f"{name}: starting on 127.0.0.1:{port}")
            proc = _process.spawn(
                engine.argv(ctx),
                log=ctx.log(name),
                env=engine.env(ctx),
                cwd=self.state_dir,
                user=engine.user(),
            )
            proc_start = _process.proc_start_time(proc.pid)
            took = self._wait_ready(name, ctx, proc.pid, proc_start)
            engine.after_ready(ctx)
            credentials = engine.credentials(ctx)
            state.engines[name] = EngineRecord(
                name=name,
                pid=proc.pid,
                port=port,
                url=engine.url(ctx),
                started_at=time.time(),
                proc_start=proc_start or 0,
                log=str(ctx.log(name)),
                token=credentials.token,
                username=credentials.basic_auth[0] if credentials.basic_auth else None,
                password=credentials.basic_auth[1] if credentials.basic_auth else None,
                headers=dict(credentials.headers),
            )
            save_state(self.state_dir, state)
            started.add(name)
            self.report(f"{name}: ready in {took:.1f}s")

        if "prometheus" in self.names:
            path = ENGINES["prometheus"].config_path(ctx)  # type: ignore[attr-defined]
            changed = prometheus_config_before not in (None, path.read_text())
            if changed and "prometheus" not in started:
                self._reload_prometheus(ctx)
                self.report("prometheus: scrape configuration changed; reloaded")
        save_state(self.state_dir, state)
        return dict(state.engines)

    def down(self, *, purge: bool = False, names: Sequence[str] | None = None) -> list[str]:
        """Stop what this stack started (reverse order); ``purge`` deletes its data too."""
        state = load_state(self.state_dir)
        stopped: list[str] = []
        targets = [n for n in reversed(list(ENGINES)) if names is None or n in names]
        for name in targets:
            record = state.engines.pop(name, None)
            if record is not None and self._running(record):
                self.report(f"{name}: stopping pid {record.pid}")
                _process.stop(
                    record.pid,
                    record.proc_start,
                    self.config.stack.stop_timeout_s,
                    ENGINES[name].stop_signal,
                )
                stopped.append(name)
            save_state(self.state_dir, state)
        if purge:
            ctx = StackContext(config=self.config, state_dir=self.state_dir)
            for name in targets:
                ENGINES[name].purge(ctx)
            self.report(f"purged data under {self.state_dir}")
        return stopped

    def status(self, *, probe_timeout: float = 2.0) -> list[EngineStatus]:
        state = load_state(self.state_dir)
        rows: list[EngineStatus] = []
        for name in self.names:
            record = state.engines.get(name)
            if record is None:
                rows.append(EngineStatus(name, None, None, False, None))
                continue
            running = self._running(record)
            endpoint = Endpoint(name, record.url, "stack", stack_credentials(record))
            health = probe_sync(endpoint, timeout=probe_timeout) if running else None
            rows.append(EngineStatus(name, endpoint.display, record.pid, running, health))
        return rows

    def launch_spec(self, name: str, port: int) -> tuple[list[str], dict[str, str]]:
        """argv and environment to run another instance of ``name`` on ``port``,
        wired to the running stack's engines (tests start broken variants this way)."""
        state = load_state(self.state_dir)
        ctx = StackContext(
            config=self.config,
            state_dir=self.state_dir,
            ports={n: r.port for n, r in state.engines.items()},
        )
        ctx.ports[name] = port
        engine = ENGINES[name]
        return engine.argv(ctx), engine.env(ctx)

    def log_path(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"
