"""Send a check's synthetic traffic: one Kafka message, or SQL statements.

Both carry the run id and a W3C ``traceparent``: Kafka as headers
(``covenant-run-id``, ``traceparent``), SQL as a sqlcommenter-style comment
and as ``%(run_id)s`` / ``%(trace_id)s`` parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from covenant.kernel.errors import CovenantError
from schedules._model import KafkaTraffic, SqlTraffic, render

__all__ = ["TrafficError", "send_kafka", "send_sql"]

RUN_ID_HEADER = "covenant-run-id"


class TrafficError(CovenantError):
    """The traffic could not be sent (engine unreachable or refusing): the run is an error."""


async def send_kafka(
    step: KafkaTraffic, values: Mapping[str, str], bootstrap: str, timeout_s: float = 10.0
) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    headers = {RUN_ID_HEADER: values["run_id"], "traceparent": values["traceparent"]}
    headers.update({name: render(text, dict(values)) for name, text in step.headers.items()})
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000), acks="all"
    )
    try:
        async with asyncio.timeout(timeout_s):
            await producer.start()
            await producer.send_and_wait(
                step.topic,
                value=render(step.value, dict(values)).encode(),
                key=render(step.key, dict(values)).encode() if step.key else None,
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
    except (KafkaError, OSError, TimeoutError) as exc:
        raise TrafficError(
            f"Kafka at {bootstrap} is unreachable or refused the message: "
            f"{type(exc).__name__}: {exc}".rstrip(": ")
        ) from None
    finally:
        with contextlib.suppress(Exception):  # closing a producer that never connected
            async with asyncio.timeout(5):
                await producer.stop()


async def send_sql(
    step: SqlTraffic, values: Mapping[str, str], url: str, timeout_s: float = 10.0
) -> None:
    import psycopg

    comment = f"/* traceparent='{values['traceparent']}' covenant_run_id='{values['run_id']}' */ "
    try:
        async with asyncio.timeout(timeout_s):
            conn = await psycopg.AsyncConnection.connect(url, connect_timeout=int(timeout_s))
            async with conn, conn.transaction():
                for statement in step.statements:
                    parameters = dict(values) if "%(" in statement else None
                    await conn.execute((comment + statement).encode(), parameters)
    except (psycopg.Error, OSError, TimeoutError) as exc:
        raise TrafficError(f"SQL traffic failed: {type(exc).__name__}: {exc}".strip()) from None
