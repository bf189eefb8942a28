"""Run the parse of an untrusted upload in a child process held to hard limits on CPU time, memory and wall time.

A parser fed a hostile file (a decompression bomb, a million-entry cross-reference table, a deeply nested
object) can take seconds of CPU and hundreds of MiB before it fails. Inside a web worker that is a denial of
service: the worker is busy and stays large afterwards. Here the parse runs in a child process instead:

* ``RLIMIT_AS`` caps the memory the child may add to what it starts with, so an allocation beyond it fails
  with ``MemoryError`` (or the kernel refuses the mapping) in the child, never in the worker;
* ``RLIMIT_CPU`` ends a child that computes too long (``SIGXCPU``), and a wall-clock timeout in the parent
  kills one that sleeps or blocks;
* whatever goes wrong in the child (a limit, a crash, an exception) reaches the caller as ``LimitExceeded``.

Children come from multiprocessing's *forkserver*: a small single-threaded server process, started on the
first call, that has already imported the parsing code (``preload``) and forks a fresh child per call. A
child is ready in milliseconds instead of the second a new interpreter needs to import pyHanko, and the
web worker's threads and open connections are never forked. See docs/decisions/0011-untrusted-uploads.md.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")
MiB = 1024 * 1024

_context = multiprocessing.get_context("forkserver")


@dataclass(frozen=True)
class Limits:
    """What one child may spend. ``memory_bytes`` comes on top of what the forkserver already holds."""

    cpu_seconds: int = 2
    memory_bytes: int = 256 * MiB
    wall_seconds: float = 3.0


class LimitExceeded(Exception):
    """The child went over a limit, died, or raised: the input is refused. ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def preload(*modules: str) -> None:
    """Modules the forkserver imports once, before it forks children (effective before its first start)."""
    _context.set_forkserver_preload(list(modules))


def _address_space_in_use() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _apply(limits: Limits) -> None:
    memory = _address_space_in_use() + limits.memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    # A crash must not leave a core file of someone else's upload behind.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _child(connection: Connection, limits: Limits, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        _apply(limits)
        outcome: tuple[str, Any] = ("ok", function(*args))
    except MemoryError:
        outcome = ("error", "memory")
    except RecursionError:
        outcome = ("error", "nesting")
    except BaseException as exc:  # anything the parser raises means "refuse", never a crash of the worker
        outcome = ("error", type(exc).__name__)
    # A result that cannot be sent within the memory limit leaves the parent reading EOF: refused as well.
    with contextlib.suppress(BaseException):
        connection.send(outcome)
    connection.close()


def run(function: Callable[..., T], *args: Any, limits: Limits = Limits()) -> T:
    """``function(*args)`` in a limited child process; its picklable result, or ``LimitExceeded``."""
    receiving, sending = _context.Pipe(duplex=False)
    child = _context.Process(target=_child, args=(sending, limits, function, args), daemon=True)
    child.start()
    sending.close()
    try:
        if not receiving.poll(limits.wall_seconds):
            raise LimitExceeded("time")
        try:
            status, value = receiving.recv()
        except EOFError:  # killed by a limit (SIGXCPU, SIGKILL from the kernel) before it answered
            raise LimitExceeded("killed") from None
    finally:
        receiving.close()
        if child.is_alive():
            child.kill()
        child.join()
        child.close()
    if status != "ok":
        raise LimitExceeded(value)
    return value
