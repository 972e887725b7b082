"""The watcher behind file events: an asset-watcher trigger that reads S3 notifications from an SQS queue.

It runs in the triggerer, which imports it by its class path; Airflow puts the plugins folder on every
component's ``sys.path`` (the DAG folder only on the DAG processor's and the workers'), so it lives here.
Why not the Amazon provider's ``SqsSensorTrigger`` (or common-messaging's ``MessageQueueTrigger``, which wraps
it): that one fires once per batch of messages, with no way to drop S3's test event, objects outside the
training files or a second notification of the same object. This one fires one event per new file. What a
notification says and which files count is decided in ``include/bank_marketing/arrivals.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent


class S3ArrivalTrigger(BaseEventTrigger):
    """One event per new training file named by the S3 notifications in an SQS queue.

    :param queue: the queue's name (resolved through the connection) or URL.
    :param bucket: the watched bucket; ``prefix`` and ``suffix`` select its training files.
    :param wait_time_seconds: SQS long poll: one request per this many seconds while the queue is empty.
    :param error_delay_seconds: pause after an AWS error (e.g. the queue does not exist yet) before retrying.

    Each file's identity (``arrivals.identity``) is remembered in the asset's state store (Airflow's metadata
    database), so a repeated notification of one file starts nothing, even after a triggerer restart. Files are
    announced one at a time: the next only once the run started for the previous one has claimed it
    (``claim_wait_seconds`` at most). A message is deleted from the queue only after its files were handed to
    Airflow; if the triggerer stops in between, SQS delivers it again (at-least-once: a file announced just
    before the stop may be announced twice; its second run finds the file claimed and skips). Received
    messages are kept out of sight ``hold_seconds`` at a time, extended while this trigger works through
    them: a trigger that is cancelled (a triggerer restart, or a missed triggerer heartbeat that reassigns
    its triggers) leaves the files it had not announced to its successor within ``hold_seconds``, not
    after the whole batch's worst case.
    """

    def __init__(
        self,
        *,
        queue: str,
        bucket: str,
        prefix: str,
        suffix: str,
        aws_conn_id: str = "aws_default",
        wait_time_seconds: int = 10,
        error_delay_seconds: int = 30,
        claim_wait_seconds: int = 60,
        hold_seconds: int = 30,
    ) -> None:
        super().__init__()
        self.queue = queue
        self.bucket = bucket
        self.prefix = prefix
        self.suffix = suffix
        self.aws_conn_id = aws_conn_id
        self.wait_time_seconds = wait_time_seconds
        self.error_delay_seconds = error_delay_seconds
        self.claim_wait_seconds = claim_wait_seconds
        self.hold_seconds = hold_seconds
        self._announced: set[str] = set()  # when no state store was injected (outside the triggerer)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "queue": self.queue,
                "bucket": self.bucket,
                "prefix": self.prefix,
                "suffix": self.suffix,
                "aws_conn_id": self.aws_conn_id,
                "wait_time_seconds": self.wait_time_seconds,
                "error_delay_seconds": self.error_delay_seconds,
                "claim_wait_seconds": self.claim_wait_seconds,
                "hold_seconds": self.hold_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.providers.amazon.aws.hooks.sqs import SqsHook
        from botocore.exceptions import BotoCoreError, ClientError

        while True:
            try:
                async with await SqsHook(aws_conn_id=self.aws_conn_id).get_async_conn() as client:
                    queue_url = await self._queue_url(client)
                    self.log.info(
                        "Watching %s for new files s3://%s/%s*%s", queue_url, self.bucket, self.prefix, self.suffix
                    )
                    while True:
                        response = await client.receive_message(
                            QueueUrl=queue_url,
                            MaxNumberOfMessages=10,
                            WaitTimeSeconds=self.wait_time_seconds,
                            VisibilityTimeout=self.hold_seconds,
                        )
                        messages = response.get("Messages", [])
                        held = {message["ReceiptHandle"] for message in messages}
                        async with self._kept_hidden(client, queue_url, held):
                            for message in messages:
                                async for event in self._events_of(message["Body"]):
                                    yield event
                                await client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                                held.discard(message["ReceiptHandle"])
            except (BotoCoreError, ClientError, OSError) as exc:
                self.log.warning(
                    "Cannot read queue %s: %s; trying again in %d s", self.queue, exc, self.error_delay_seconds
                )
                await asyncio.sleep(self.error_delay_seconds)

    @contextlib.asynccontextmanager
    async def _kept_hidden(self, client: Any, queue_url: str, held: set[str]) -> AsyncGenerator[None]:
        """Extends the visibility of the ``held`` messages every third of ``hold_seconds`` until the block ends
        (announcing a batch one file at a time can take minutes); when this trigger is cancelled, the extension
        stops with it and SQS hands what is left to the next reader."""

        async def extend() -> None:
            while True:
                await asyncio.sleep(max(1, self.hold_seconds // 3))
                if held:
                    entries = [
                        {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": self.hold_seconds}
                        for i, handle in enumerate(sorted(held))
                    ]
                    try:
                        await client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
                    except Exception as exc:  # a lapsed hold only risks a repeated notification, which is dropped
                        self.log.warning("Cannot extend the hold on %d messages: %s", len(entries), exc)

        keeper = asyncio.ensure_future(extend())
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _events_of(self, body: str) -> AsyncIterator[TriggerEvent]:
        from include.bank_marketing import arrivals

        rule = arrivals.WatchRule(self.bucket, self.prefix, self.suffix)
        objects = arrivals.parse_message(body)
        if not objects:
            self.log.info("Not a new-object notification (e.g. s3:TestEvent): %.200s", body)
        for obj in objects:
            reason = rule.why_not(obj)
            if reason:
                self.log.info("No run for s3://%s/%s: %s", obj["bucket"], obj["key"], reason)
                continue
            key = arrivals.seen_key(obj)
            if await self._was_announced(key):
                self.log.info("No run for s3://%s/%s: already announced (%s)", obj["bucket"], obj["key"], key)
                continue
            self.log.info("New file s3://%s/%s (ETag %s)", obj["bucket"], obj["key"], obj["etag"])
            yield TriggerEvent(dict(obj))
            await self._remember(key, obj["event_time"])
            await self._wait_for_its_run(obj)

    async def _wait_for_its_run(self, obj: Any) -> None:
        """Until the run this file started has taken it (its resolve_input records the claim in the state
        store), or ``claim_wait_seconds``. Airflow 3.3 folds an event that arrives before the run for the
        previous one was created into no run or a later one; one file at a time, each gets its own run. (Past
        the wait, e.g. while max_active_runs holds runs back, a run takes the files no run has claimed.)"""
        from include.bank_marketing import arrivals

        if self.asset_state_store is None:
            return
        claim = arrivals.claim_key(arrivals.identity(obj))
        for _ in range(self.claim_wait_seconds):
            if await self.asset_state_store.aget(claim) is not None:
                return
            await asyncio.sleep(1)
        self.log.info(
            "No run took s3://%s/%s within %d s; announcing the next file",
            obj["bucket"],
            obj["key"],
            self.claim_wait_seconds,
        )

    async def _queue_url(self, client: Any) -> str:
        if self.queue.startswith(("https://", "http://")):
            return self.queue
        return (await client.get_queue_url(QueueName=self.queue))["QueueUrl"]

    async def _was_announced(self, key: str) -> bool:
        if self.asset_state_store is None:
            return key in self._announced
        return await self.asset_state_store.aget(key) is not None

    async def _remember(self, key: str, event_time: str) -> None:
        if self.asset_state_store is None:
            self._announced.add(key)
        else:
            await self.asset_state_store.aset(key, event_time or "seen")
