"""Run every check of ``checks.dir`` on its schedule, inside ``covenant serve``.

APScheduler 3 (asyncio) fires each check at its slot boundaries (interval
checks are aligned to the Unix epoch, so every instance agrees on the slots);
a random jitter up to the check's ``jitter`` spreads the load; the slot is then
claimed in PostgreSQL (:mod:`schedules._claims`) so that, with several
instances on one database, each run happens exactly once. An instance that
lost the race watches the winner's lease and takes the slot over if the winner
dies before completing it.

Check files are re-read when they change (polled every
``checks.reload_interval_s``, or at once on SIGHUP): jobs of removed or
disabled checks go, new and changed ones are (re)scheduled, and a file with an
error leaves the running schedule untouched. On shutdown, runs in flight get
the grace period to finish; the rest are cancelled, recorded as errors and
their slots released for another instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from covenant.kernel.config import CovenantConfig
from schedules._claims import ClaimStore, slot_of
from schedules._database import ChecksDatabase
from schedules._engines import engines_for
from schedules._loader import CheckFileError, load_checks
from schedules._model import Check
from schedules._run import CheckRun, ExpectationResult, run_check
from schedules._store import RunStore

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

__all__ = ["CheckScheduler", "RunListener", "SchedulerMetrics"]

log = logging.getLogger(__name__)

#: Extra seconds of lease beyond a check's deadline (sending, storing, slack).
LEASE_MARGIN_S = 20.0
SPOOL_FLUSH_S = 10.0
HEARTBEAT_S = 5.0
#: Connections to the runs database shared by all runs of one instance.
POOL_SIZE = 4


def default_instance() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SchedulerMetrics(Protocol):
    """What the scheduler reports while it runs (``observability.metrics`` has it)."""

    def scheduler_running(self, up: bool) -> None:
        """The scheduler started (``True``) or stopped (``False``)."""

    def scheduler_tick(self) -> None:
        """The scheduler is alive: called on each of its ticks."""

    def declare_checks(self, names: Iterable[str]) -> None:
        """The names of the checks now scheduled (called whenever they are loaded)."""

    def record_check_run(self, run: CheckRun) -> None:
        """One finished run (passed, failed, errored or cancelled)."""

    def set_spooled(self, count: int) -> None:
        """How many runs wait in the spool for the database."""


class RunListener(Protocol):
    """Told of every finished run once it is stored (``observability.tracing`` has
    one exporting each run as a trace). What it raises is ignored: a listener
    never fails a run nor the scheduler."""

    def run_finished(self, run: CheckRun, traffic_kind: str) -> None:
        """``run`` ended; ``traffic_kind`` is the kind of its check's traffic step."""


class CheckScheduler:
    def __init__(
        self,
        config: CovenantConfig,
        *,
        metrics: SchedulerMetrics | None = None,
        listeners: Sequence[RunListener] = (),
        on_run: Callable[[CheckRun], None] | None = None,
    ) -> None:
        self.config = config
        self.instance = config.checks.instance or default_instance()
        self.location = config.checks.location
        self.metrics = metrics
        self.listeners = tuple(listeners)
        self.on_run = on_run
        self.engines = engines_for(config)
        database = self.engines.databases.get("postgres")
        spool = config.stack.state_dir / "checks" / f"spool-{_safe(self.instance)}.ndjson"
        self.database = ChecksDatabase(database, pool_size=POOL_SIZE) if database else None
        self.store = RunStore(database, spool, self.database)
        self.claims = ClaimStore(self.database, self.instance) if self.database else None
        self.checks: dict[str, Check] = {}
        self.problems: list[str] = []
        self._fingerprint: tuple[tuple[str, float, int], ...] = ()
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self.runs_started = 0

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        if self.database is not None:
            await self.database.open()
        self._client = httpx.AsyncClient()
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.start()
        self.reload(force=True)
        every = self.config.checks.reload_interval_s
        self._scheduler.add_job(self.reload, "interval", seconds=every, id="_reload")
        self._scheduler.add_job(self._flush, "interval", seconds=SPOOL_FLUSH_S, id="_flush")
        self._scheduler.add_job(self._tick, "interval", seconds=HEARTBEAT_S, id="_tick")
        self._tick()
        if self.metrics is not None:
            self.metrics.scheduler_running(True)
        log.info(
            "scheduler: %d check(s) scheduled as instance %s%s",
            len(self.checks),
            self.instance,
            f" at {self.location}" if self.location else "",
        )

    async def stop(self, grace_s: float) -> None:
        """Stop firing; let runs in flight finish within ``grace_s``, cancel the rest."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=10)
        if self.database is not None:
            self.database.retry_now()
        await self._flush()
        if self.database is not None:
            await self.database.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self.metrics is not None:
            self.metrics.scheduler_running(False)

    # -- the check files --------------------------------------------------------------

    def _files(self) -> list[Path]:
        directory = self.config.checks.dir
        if not directory.is_dir():
            return []
        return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])

    def reload(self, force: bool = False) -> bool:
        """Re-read the check files if they changed; True when the schedule changed."""
        files = self._files()
        fingerprint = tuple((str(p), p.stat().st_mtime, p.stat().st_size) for p in files)
        if fingerprint == self._fingerprint and not force:
            return False
        self._fingerprint = fingerprint
        try:
            loaded = load_checks(self.config.checks.dir, files) if files else []
        except CheckFileError as exc:
            self.problems = exc.problems
            log.error("scheduler: check files not reloaded:\n  %s", "\n  ".join(exc.problems))
            return False
        self.problems = []
        wanted = {
            item.check.name: item.check
            for item in loaded
            if item.check.scheduled and item.check.location in (None, self.location)
        }
        changed = False
        for name in set(self.checks) - set(wanted):
            self._remove_job(name)
            changed = True
        for name, check in wanted.items():
            if self.checks.get(name) != check:
                self._add_job(check)
                changed = True
        self.checks = wanted
        if self.metrics is not None:
            # Counters at 0 from the start, so a check failing from its first run
            # is seen as an increase by the CovenantCheckFailing rule.
            self.metrics.declare_checks(wanted)
        if changed:
            log.info("scheduler: %d check(s) scheduled", len(wanted))
        return changed

    def _remove_job(self, name: str) -> None:
        if self._scheduler is not None:
            with contextlib.suppress(Exception):
                self._scheduler.remove_job(f"check:{name}")

    def _add_job(self, check: Check) -> None:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self._scheduler is None:
            return
        trigger: Any
        if check.interval is not None:
            step = check.interval
            now = datetime.now(UTC).timestamp()
            first = datetime.fromtimestamp((int(now // step) + 1) * step, UTC)
            trigger = IntervalTrigger(seconds=step, start_date=first, timezone=UTC)
            grace = max(1, int(step / 2))
        else:
            trigger = CronTrigger.from_crontab(check.cron or "* * * * *", timezone=UTC)
            grace = 30
        self._scheduler.add_job(
            self._fire,
            trigger,
            args=[check.name],
            id=f"check:{check.name}",
            replace_existing=True,
            max_instances=3,
            coalesce=True,
            misfire_grace_time=grace,
        )

    # -- one scheduled run ------------------------------------------------------------

    async def _fire(self, name: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await self._fire_slot(name)
        except asyncio.CancelledError:
            # Shutting down: a run in flight was recorded as cancelled and its slot
            # released; a fire still waiting out its jitter had not claimed anything.
            log.info("scheduler: %s cancelled by shutdown", name)
        finally:
            self._running.discard(task)

    async def _fire_slot(self, name: str) -> None:
        check = self.checks.get(name)
        if check is None:
            return
        slot = slot_of(datetime.now(UTC), check.interval)
        if check.jitter:
            await asyncio.sleep(random.uniform(0, check.jitter))  # noqa: S311 - spreading load
        lease_s = check.deadline + LEASE_MARGIN_S
        if not await self._claim(check, slot, lease_s):
            await self._maybe_take_over(check, slot, lease_s)
            return
        await self._run(check, slot)

    async def _claim(self, check: Check, slot: datetime, lease_s: float) -> bool:
        if self.claims is None:
            return True  # no database: a lone instance runs everything
        try:
            return await self.claims.claim(check.name, self.location, slot, lease_s) is not None
        except Exception as exc:  # PostgreSQL down: run anyway, results are spooled
            log.warning("scheduler: cannot claim %s (%s); running unclaimed", check.name, exc)
            return True

    async def _maybe_take_over(self, check: Check, slot: datetime, lease_s: float) -> None:
        """Another instance holds the slot: if its lease runs out before the next slot
        without the run completed (the holder died), take the slot over."""
        if self.claims is None:
            return
        next_slot = slot + timedelta(seconds=check.interval or 60)
        with contextlib.suppress(Exception):
            lease = await self.claims.lease_of(check.name, self.location, slot)
            if lease is None or lease >= next_slot:
                return
            await asyncio.sleep(max(0.0, (lease - datetime.now(UTC)).total_seconds()) + 0.5)
            if await self.claims.claim(check.name, self.location, slot, lease_s) is not None:
                log.warning("scheduler: took over %s slot %s", check.name, slot.isoformat())
                await self._run(check, slot)

    async def _run(self, check: Check, slot: datetime) -> None:
        self.runs_started += 1
        run: CheckRun | None = None
        try:
            run = await run_check(
                check,
                self.engines,
                location=self.location,
                scheduled_for=slot,
                instance=self.instance,
                client=self._client,
            )
        except asyncio.CancelledError:
            await asyncio.shield(self._cancelled(check, slot))
            raise
        await self._record(check, run)
        if self.claims is not None:
            with contextlib.suppress(Exception):
                await self.claims.complete(check.name, self.location, slot, run.run_id)

    async def _cancelled(self, check: Check, slot: datetime) -> None:
        """Shutting down mid-run: record the run as an error, give the slot back."""
        now = datetime.now(UTC)
        run = CheckRun(
            check=check.name,
            run_id=f"cancelled-{slot.strftime('%Y%m%dT%H%M%S')}-{_safe(self.instance)}",
            trace_id="0" * 32,
            started_at=now,
            finished_at=now,
            result="error",
            error="cancelled: covenant was shutting down",
            location=self.location,
            scheduled_for=slot,
            instance=self.instance,
            expectations=[
                ExpectationResult(e.name, e.kind, "error", detail="cancelled") for e in check.expect
            ],
        )
        await self._record(check, run)
        if self.claims is not None:
            with contextlib.suppress(Exception):
                await self.claims.release(check.name, self.location, slot)

    async def _record(self, check: Check, run: CheckRun) -> None:
        await self.store.save(run)
        if self.metrics is not None:
            self.metrics.record_check_run(run)
        for listener in self.listeners:
            with contextlib.suppress(Exception):
                listener.run_finished(run, check.traffic.step.kind)
        if self.on_run is not None:
            self.on_run(run)

    # -- housekeeping -----------------------------------------------------------------

    async def _flush(self) -> None:
        await self.store.flush()
        if self.metrics is not None:
            self.metrics.set_spooled(self.store.spooled_count())

    def _tick(self) -> None:
        if self.metrics is not None:
            self.metrics.scheduler_tick()

    def jobs(self) -> list[dict[str, Any]]:
        """The scheduled checks with their next fire time (for the status API)."""
        found = []
        for name, check in sorted(self.checks.items()):
            job = self._scheduler.get_job(f"check:{name}") if self._scheduler else None
            next_run = getattr(job, "next_run_time", None)
            found.append(
                {
                    "check": name,
                    "interval_s": check.interval,
                    "cron": check.cron,
                    "next_run": next_run.isoformat() if next_run else None,
                }
            )
        return found


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
