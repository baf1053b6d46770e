"""Exactly-once scheduled runs across instances: one claim per check, place and slot.

Every instance schedules every check; at each slot (an interval boundary, or a
cron minute) they race to insert the claim row, and only the winner runs it.
A claim carries a lease: if its holder dies before completing the run, the
lease runs out and another instance may take the slot over. Slots are aligned
to the Unix epoch, so instances agree on them without talking to each other.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from schedules._database import ChecksDatabase

__all__ = ["ClaimStore", "slot_of"]


def slot_of(now: datetime, interval_s: float | None) -> datetime:
    """The slot a fire at ``now`` belongs to: the nearest interval boundary (cron
    checks: the minute), so a fire delayed or early by a little still agrees."""
    step = interval_s or 60.0
    epoch = now.timestamp()
    return datetime.fromtimestamp(math.floor(epoch / step + 0.5) * step, UTC)


class ClaimStore:
    def __init__(self, database: ChecksDatabase, instance: str) -> None:
        self.database = database
        self.instance = instance

    async def claim(
        self, check: str, location: str | None, slot: datetime, lease_s: float
    ) -> datetime | None:
        """Claim the slot; None when another instance holds it (or has done it), else
        when our lease ends."""
        async with self.database.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO checks.claims (check_name, location, slot, claimed_by, lease_until)"
                " VALUES (%s, %s, %s, %s, now() + %s)"
                " ON CONFLICT (check_name, location, slot) DO UPDATE"
                " SET claimed_by = EXCLUDED.claimed_by, claimed_at = now(),"
                " lease_until = EXCLUDED.lease_until, takeovers = checks.claims.takeovers + 1"
                " WHERE checks.claims.completed_at IS NULL AND checks.claims.lease_until < now()"
                " RETURNING lease_until",
                (check, location or "", slot, self.instance, timedelta(seconds=lease_s)),
            )
            row = await cur.fetchone()
        return row[0] if row else None

    async def lease_of(self, check: str, location: str | None, slot: datetime) -> datetime | None:
        """When the current holder's lease ends; None when the slot is done or unclaimed."""
        async with self.database.connection() as conn:
            cur = await conn.execute(
                "SELECT lease_until FROM checks.claims WHERE check_name = %s AND location = %s"
                " AND slot = %s AND completed_at IS NULL",
                (check, location or "", slot),
            )
            row = await cur.fetchone()
        return row[0] if row else None

    async def complete(self, check: str, location: str | None, slot: datetime, run_id: str) -> None:
        async with self.database.connection() as conn:
            await conn.execute(
                "UPDATE checks.claims SET completed_at = now(), run_id = %s"
                " WHERE check_name = %s AND location = %s AND slot = %s AND claimed_by = %s",
                (run_id, check, location or "", slot, self.instance),
            )

    async def release(self, check: str, location: str | None, slot: datetime) -> None:
        """Give an unfinished slot back (shutting down): another instance may take it."""
        async with self.database.connection() as conn:
            await conn.execute(
                "UPDATE checks.claims SET lease_until = now() - interval '1 second'"
                " WHERE check_name = %s AND location = %s AND slot = %s AND claimed_by = %s"
                " AND completed_at IS NULL",
                (check, location or "", slot, self.instance),
            )


def utcnow() -> datetime:
    return datetime.now(UTC)
