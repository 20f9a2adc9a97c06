"""Exclusive CPU/wall time per server function, by wrapping the functions in place (benchmarks only).

``Instrument(targets)`` replaces each target function (in its module and in every ``fhir_server``
module that imported it by name) or method (on its class) with a wrapper that times it with
``time.process_time_ns`` and ``time.perf_counter_ns``. Time spent in a wrapped callee is charged to
the callee only (a stack of open calls), so the phases add up without double counting. Garbage collections
(``gc.callbacks``) are charged to a phase of their own. Use as a
context manager; the originals are restored on exit. Meant for sequential code (one request at a
time): concurrent tasks would interleave on the stack.
"""

from __future__ import annotations

import functools
import gc
import inspect
import sys
import time
from collections import defaultdict
from typing import Any

Target = tuple[str, Any, str]  # (phase name, module or class, attribute)


class Instrument:
    def __init__(self, targets: list[Target], *, gc_phase: str | None = "garbage collection") -> None:
        self.targets = targets
        self.gc_phase = gc_phase
        self.cpu: dict[str, int] = defaultdict(int)
        self.wall: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list[int]] = []
        self._restore: list[tuple[Any, str, Any]] = []

    # -- accounting ---------------------------------------------------------------------------
    def _enter(self) -> None:
        self._stack.append([time.process_time_ns(), time.perf_counter_ns(), 0, 0])

    def _exit(self, name: str) -> None:
        wall = time.perf_counter_ns()
        cpu = time.process_time_ns()
        c0, w0, child_cpu, child_wall = self._stack.pop()
        cpu_spent, wall_spent = cpu - c0, wall - w0
        self.cpu[name] += cpu_spent - child_cpu
        self.wall[name] += wall_spent - child_wall
        self.calls[name] += 1
        if self._stack:
            self._stack[-1][2] += cpu_spent
            self._stack[-1][3] += wall_spent

    def _wrap(self, name: str, fn: Any) -> Any:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                self._enter()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    self._exit(name)
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self._enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._exit(name)
        return wrapper

    def _gc(self, phase: str, info: dict) -> None:
        """gc.callbacks hook: a collection is charged to its own phase, like a wrapped call."""
        if phase == "start":
            self._enter()
        elif self._stack:
            self._exit(self.gc_phase or "gc")

    # -- patching -----------------------------------------------------------------------------
    def __enter__(self) -> "Instrument":
        if self.gc_phase:
            gc.callbacks.append(self._gc)
        for name, owner, attr in self.targets:
            original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
            wrapped = self._wrap(name, original)
            if isinstance(owner, type):
                self._patch(owner, attr, original, wrapped)
                continue
            for module in list(sys.modules.values()):
                if getattr(module, "__name__", "").startswith("fhir_server") and getattr(module, attr, None) is original:
                    self._patch(module, attr, original, wrapped)
        return self

    def _patch(self, owner: Any, attr: str, original: Any, wrapped: Any) -> None:
        setattr(owner, attr, wrapped)
        self._restore.append((owner, attr, original))

    def __exit__(self, *exc: Any) -> None:
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)
        for owner, attr, original in reversed(self._restore):
            setattr(owner, attr, original)
        self._restore.clear()

    def summary(self) -> dict[str, dict[str, float]]:
        return {k: {"cpu_ms": self.cpu[k] / 1e6, "wall_ms": self.wall[k] / 1e6, "calls": self.calls[k]} for k in self.cpu}
