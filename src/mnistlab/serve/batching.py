"""Micro-batching: the images of concurrent requests go through the model as one call.

One forward pass of 32 images costs a few times one image's (`fast` on a 2-core Xeon with
AMX: 5.1 ms against 0.9 ms), so under load a worker answers many more requests if it
batches. Requests wait on an asyncio future; one task takes whatever is
queued (and what arrives within `window` seconds, up to `max_batch` images), runs the model
on its own thread, and hands each request its row. A request that finds none queued waits
`window` for others; under load the images queued while the model ran go at once. One
timer per batch, not one `wait_for` per image: per-image timers cost the event loop more
than batching saved (docs/decisions/serving.md).

A model call has a deadline too (`timeout`): past it, the requests of its batch get
ModelTimeout, and until the call returns (a thread cannot be stopped) the model counts as
stuck: queued and new requests get ModelStuck at once rather than waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import Executor

import numpy as np


class ModelTimeout(Exception):
    """The model call of this request's batch did not return within its deadline."""


class ModelStuck(Exception):
    """A model call is past its deadline and has not returned: no new call can start."""


class MicroBatcher:
    """Collects (28, 28) images from concurrent callers into batches for `predict`."""

    def __init__(
        self,
        predict: Callable[[np.ndarray], np.ndarray],
        executor: Executor,
        window: float = 0.002,
        max_batch: int = 32,
        on_batch: Callable[[int], None] | None = None,
        timeout: float | None = None,
        on_stuck: Callable[[], None] | None = None,
    ) -> None:
        self.predict, self.executor = predict, executor
        self.window, self.max_batch = window, max(1, max_batch)
        self.on_batch = on_batch or (lambda size: None)
        self.timeout, self.on_stuck = timeout, on_stuck or (lambda: None)
        self.queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future]] = asyncio.Queue()
        self.task: asyncio.Task | None = None
        self.stuck = False  # a model call is past its deadline and still running

    async def submit(self, image: np.ndarray) -> np.ndarray:
        """The model's output row for one image, computed in a batch with its neighbours;
        ModelTimeout or ModelStuck where the model does not answer in time."""
        if self.stuck:
            raise ModelStuck
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((image, future))
        return await future

    def start(self) -> None:
        self.task = asyncio.create_task(self._serve(), name="mnistlab-batcher")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            if self.max_batch > 1 and self.queue.empty():
                await asyncio.sleep(self.window)  # alone: give concurrent requests a moment
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            await self._run(loop, batch)

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list) -> None:
        """One model call for the batch; an error reaches every request in it, no other."""
        live = [(image, future) for image, future in batch if not future.cancelled()]
        if not live:
            return
        self.on_batch(len(live))
        try:
            images = np.stack([image for image, _ in live])
            call = loop.run_in_executor(self.executor, self.predict, images)
            if not (await asyncio.wait({call}, timeout=self.timeout or None))[0]:
                await self._stuck(call, live)
                return
            rows = call.result()
        except Exception as e:  # the model failed: each waiting request answers 500
            _fail(live, e)
            return
        for (_, future), row in zip(live, rows, strict=True):
            if not future.done():
                future.set_result(row)

    async def _stuck(self, call: asyncio.Future, live: list) -> None:
        """The call is past its deadline: its requests time out, the queued ones and any new
        one are refused until it returns; then batching goes on."""
        self.stuck = True
        self.on_stuck()
        _fail(live, ModelTimeout())
        while not self.queue.empty():  # what arrives from now on submit() refuses
            _fail([self.queue.get_nowait()], ModelStuck())
        try:
            await asyncio.wait({call})
            call.exception()  # retrieved: whatever it ended with, nobody waits for it now
        finally:
            self.stuck = False


def _fail(batch: list, error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
