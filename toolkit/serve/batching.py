"""Running requests: straight into a thread pool, or stacked with others along the batch axis first.

onnxruntime's run() releases the GIL and a session may be run from several threads at once, so
concurrent requests share no lock; a semaphore only bounds how many runs are in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from toolkit.serve.repository import ServedModel

log = logging.getLogger("toolkit.serve")


class DirectRunner:
    """One request, one onnxruntime run in the pool."""

    def __init__(self, model: ServedModel, executor: Executor):
        self.model = model
        self.executor = executor

    async def infer(
        self, feeds: Mapping[str, np.ndarray], output_names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.model.run, feeds, output_names)

    async def close(self) -> None:
        pass


@dataclass
class _Pending:
    feeds: dict[str, np.ndarray]
    rows: int
    signature: tuple
    arrived: float
    future: asyncio.Future = field(repr=False)


class DynamicBatcher:
    """Collects requests for up to `timeout_s` (or `max_batch_size` rows), runs them as one batch, splits back.

    Requests whose non-batch shapes or dtypes differ cannot be stacked: each such group runs on its own.
    While every run slot is busy requests keep queueing, so a loaded server forms larger batches.
    """

    def __init__(
        self, model: ServedModel, executor: Executor, slots: int, max_batch_size: int, timeout_s: float
    ):
        self.model = model
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.timeout_s = timeout_s
        self.slots = asyncio.Semaphore(slots)
        self.queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self.carried: _Pending | None = None
        self.running: set[asyncio.Task] = set()
        self.collector = asyncio.get_running_loop().create_task(self._collect_forever())

    async def infer(
        self, feeds: Mapping[str, np.ndarray], output_names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        rows = _batch_rows(feeds)
        loop = asyncio.get_running_loop()
        if rows is None or rows >= self.max_batch_size:
            return await loop.run_in_executor(self.executor, self.model.run, feeds, output_names)
        signature = tuple((name, value.shape[1:], value.dtype.str) for name, value in sorted(feeds.items()))
        future = loop.create_future()
        await self.queue.put(_Pending(dict(feeds), rows, signature, loop.time(), future))
        outputs = await future
        return {name: outputs[name] for name in output_names}

    async def _collect_forever(self) -> None:
        while True:
            await self.slots.acquire()
            try:
                batch = await self._collect()
            except BaseException:
                self.slots.release()
                raise
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self.running.add(task)
            task.add_done_callback(self.running.discard)

    async def _collect(self) -> list[_Pending]:
        """Wait for a first request, then gather more until the batch is full or its deadline passes."""
        first = self.carried or await self.queue.get()
        self.carried = None
        batch, rows = [first], first.rows
        loop = asyncio.get_running_loop()
        deadline = first.arrived + self.timeout_s
        while rows < self.max_batch_size:
            if self.queue.empty():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    pending = await asyncio.wait_for(self.queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                pending = self.queue.get_nowait()
            if rows + pending.rows > self.max_batch_size:
                self.carried = pending  # first in the next batch, keeping arrival order
                break
            batch.append(pending)
            rows += pending.rows
        return batch

    async def _run(self, batch: list[_Pending]) -> None:
        try:
            groups: dict[tuple, list[_Pending]] = {}
            for pending in batch:
                groups.setdefault(pending.signature, []).append(pending)
            loop = asyncio.get_running_loop()
            for group in groups.values():
                try:
                    outputs = await loop.run_in_executor(self.executor, self._run_stacked, group)
                except Exception as error:
                    for pending in group:
                        if not pending.future.done():
                            pending.future.set_exception(error)
                    continue
                for pending, result in zip(group, outputs, strict=True):
                    if not pending.future.done():  # the client may have gone away
                        pending.future.set_result(result)
        finally:
            self.slots.release()

    def _run_stacked(self, group: list[_Pending]) -> list[dict[str, np.ndarray]]:
        if len(group) == 1:
            return [self.model.run(group[0].feeds)]
        names = list(group[0].feeds)
        stacked = {name: np.concatenate([pending.feeds[name] for pending in group]) for name in names}
        outputs = self.model.run(stacked)
        total = sum(pending.rows for pending in group)
        bounds = np.cumsum([pending.rows for pending in group])[:-1]
        split: list[dict[str, np.ndarray]] = [{} for _ in group]
        for name, value in outputs.items():
            if value.ndim == 0 or value.shape[0] != total:
                raise RuntimeError(
                    f"model {self.model.name!r}: output {name!r} has shape {value.shape}, not {total} rows "
                    "on its first axis; serve it without --max-batch-size"
                )
            for index, part in enumerate(np.split(value, bounds)):
                split[index][name] = part
        return split

    async def close(self) -> None:
        self.collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.collector
        if self.running:
            await asyncio.gather(*self.running, return_exceptions=True)


def _batch_rows(feeds: Mapping[str, np.ndarray]) -> int | None:
    """Rows on the first axis shared by every input, or None when they disagree (then no batching)."""
    sizes = {value.shape[0] if value.ndim else None for value in feeds.values()}
    if len(sizes) != 1 or None in sizes:
        return None
    return sizes.pop()
