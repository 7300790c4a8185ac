"""Running requests: straight into a thread pool, or stacked with others along the batch axis first.

onnxruntime's run() releases the GIL and a session may be run from several threads at once, so
concurrent requests share no lock; a semaphore only bounds how many runs are in flight.

Dynamic batching is continuous: a free run slot takes what is queued now, and a request waits for
company only when that can pay. For `slots` runs in flight and `--batch-timeout-ms` as `timeout_s`:

- Idle server (a slot free, no run in flight): the queued requests run at once, up to
  `max_batch_size` rows. A lone request is never held back: there is no one to wait for, and an
  idle CPU gains nothing by waiting.
- Every slot busy: arrivals queue and form the next batch when a slot frees. That is where large
  batches come from under load, at no added wait, and why the batch size follows the load.
- A slot free while another run is in flight: the queued requests wait for company until the oldest
  has waited `timeout_s`, the batch is full, or the server goes idle. A busy server is one where more
  requests are coming, and a run started now would share the cores with the one in flight, so a
  short wait buys a larger batch, cheaper per row, for little latency.

So `timeout_s` bounds the wait for company, and it is spent only on a busy server. With one slot
the server is never busy while its slot is free: batches form purely from what queued during the
previous run. The old policy (every batch waits out the timeout unless full) made a lone request pay
the whole timeout and, under 8 clients that never fill a 32-row batch, every request too.
"""

from __future__ import annotations

import asyncio
import collections
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
    """Stacks queued requests along the first axis, runs them as one, splits the outputs back.

    When to run is the module docstring's policy. Requests whose non-batch shapes or dtypes differ
    cannot be stacked: each such group runs on its own.
    """

    def __init__(
        self, model: ServedModel, executor: Executor, slots: int, max_batch_size: int, timeout_s: float
    ):
        self.model = model
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.timeout_s = timeout_s
        self.slots = asyncio.Semaphore(slots)
        self.waiting: collections.deque[_Pending] = collections.deque()
        self.waiting_rows = 0
        self.in_flight = 0
        # Set on every arrival and every finished run: the only two events the collector waits on.
        self.changed = asyncio.Event()
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
        self.waiting.append(_Pending(dict(feeds), rows, signature, loop.time(), future))
        self.waiting_rows += rows
        self.changed.set()
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
            if not batch:  # every request collected had been abandoned
                self.slots.release()
                continue
            self.in_flight += 1
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self.running.add(task)
            task.add_done_callback(self.running.discard)

    async def _wait_for_change(self, timeout_s: float | None = None) -> None:
        self.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), timeout_s)

    async def _collect(self) -> list[_Pending]:
        """With a slot held: wait for a request, then for company while that can pay (the module docstring)."""
        while not self.waiting:
            await self._wait_for_change()
        loop = asyncio.get_running_loop()
        deadline = self.waiting[0].arrived + self.timeout_s
        while self.in_flight and self.waiting_rows < self.max_batch_size:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._wait_for_change(remaining)
        # The oldest requests, in arrival order, up to max_batch_size rows; the first always fits.
        batch, rows = [], 0
        while self.waiting and rows + self.waiting[0].rows <= self.max_batch_size:
            pending = self.waiting.popleft()
            self.waiting_rows -= pending.rows
            if pending.future.done():  # its client went away while it queued: no run for it
                continue
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
            self.in_flight -= 1
            self.slots.release()
            self.changed.set()

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
        while self.waiting:  # never collected: their clients get an error, not a hang
            self.waiting.popleft().future.cancel()


def _batch_rows(feeds: Mapping[str, np.ndarray]) -> int | None:
    """Rows on the first axis shared by every input, or None when they disagree (then no batching)."""
    sizes = {value.shape[0] if value.ndim else None for value in feeds.values()}
    if len(sizes) != 1 or None in sizes:
        return None
    return sizes.pop()
