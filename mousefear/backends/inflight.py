"""Work in flight for a server backend: chains of windows side by side, and frames encoded once.

Used by :mod:`mousefear.backends.openai`:

- :func:`run_chains` keeps one request in flight for each of up to ``max_chains`` chains of windows (the windows
  of one video in autoregressive context, :meth:`~mousefear.backends.base.WindowBackend.classify_chains`): a
  chain's next window is asked for only after its previous result was handed on, so each chain is serial while
  the chains together keep the server busy.
- :class:`EncodedFrames` encodes a frame array as image data URLs once and hands the same URLs to every request
  that shows it (in a context mode a window's frames are sent three times: as the target and as the neighbour of
  the windows before and after it).
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from mousefear.errors import ModelError

__all__ = ["EncodedFrames", "encode_frame", "run_chains"]


def encode_frame(frame: np.ndarray, fmt: str) -> str:
    """One (h, w, 3) uint8 RGB frame as a ``data:image/png;base64,...`` (or JPEG, quality 95) URL."""
    import cv2

    bgr = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR)
    if fmt == "png":
        ok, buf = cv2.imencode(".png", bgr)
        mime = "image/png"
    else:
        ok, buf = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), 95])
        mime = "image/jpeg"
    if not ok:
        raise ModelError(f"Cannot encode a frame of shape {frame.shape} as {fmt}")
    return f"data:{mime};base64," + base64.b64encode(buf.tobytes()).decode("ascii")


class EncodedFrames:
    """The data URLs of recently sent frame arrays, so that an array shown in several requests is encoded once.

    An array is known by its identity (the pipeline hands the same array to the requests of a window and of its
    neighbours); the entry keeps the array itself, so an identity is never mistaken for that of a new array.
    Thread-safe; holds the ``size`` most recent arrays.
    """

    def __init__(self, size: int = 64):
        self.size = size
        self._entries: OrderedDict[int, tuple[np.ndarray, list[str]]] = OrderedDict()
        self._lock = threading.Lock()
        self.encoded = 0  #: frames encoded so far (for tests and benchmarks)

    def urls(self, frames: np.ndarray, fmt: str) -> list[str]:
        """The data URLs of (k, h, w, 3) uint8 frames in format ``fmt`` (``png`` or ``jpeg``)."""
        key = id(frames)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] is frames:
                self._entries.move_to_end(key)
                return hit[1]
        urls = [encode_frame(f, fmt) for f in frames]
        with self._lock:
            self.encoded += len(urls)
            self._entries[key] = (frames, urls)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return urls


def run_chains(
    chains: Iterable[Iterator[Any]],
    work: Callable[[Any], Any],
    finish: Callable[[Any, Any, float], Any],
    max_chains: int,
    stop: threading.Event,
) -> Iterator[tuple[Any, Any]]:
    """Keep one request in flight for each of up to ``max_chains`` chains; yield results as they arrive.

    Parameters
    ----------
    chains
        Iterators of windows, taken up lazily as chains end.
    work
        Window -> its answers (the requests, run in one of ``max_chains`` worker threads).
    finish
        ``(window, answers, seconds)`` -> its result (in the calling thread).
    max_chains
        Chains with a request in flight at once.
    stop
        Set when the chains stop (done, failed or abandoned), so that requests still retrying give up; cleared
        again before returning.

    Yields
    ------
    (window, result)
        In the order the answers arrive; within a chain in order. A chain's next window is asked for after its
        previous result was yielded (and handled by the caller).

    Raises
    ------
    Exception
        What a request raised, after the results of the requests that ended with it were yielded; the requests
        still waiting are cancelled.
    """
    source = iter(chains)
    in_flight: dict[Future, tuple[Iterator[Any], Any, float, int]] = {}
    order = itertools.count()
    exhausted = False
    stop.clear()
    pool = ThreadPoolExecutor(max_workers=max_chains, thread_name_prefix="mousefear-chains")

    def start(chain: Iterator[Any]) -> None:
        window = next(chain, None)
        if window is not None:
            in_flight[pool.submit(work, window)] = (chain, window, time.monotonic(), next(order))

    try:
        while True:
            while not exhausted and len(in_flight) < max_chains:
                chain = next(source, None)
                if chain is None:
                    exhausted = True
                else:
                    start(iter(chain))
            if not in_flight:
                return
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            failure: BaseException | None = None
            for fut in sorted(done, key=lambda f: in_flight[f][3]):  # those that ended together: in submission order
                chain, window, t0, _ = in_flight.pop(fut)
                exc = fut.exception()
                if exc is not None:
                    failure = failure or exc
                    continue
                yield window, finish(window, fut.result(), time.monotonic() - t0)
                if failure is None:
                    start(chain)
            if failure is not None:
                raise failure
    finally:
        stop.set()  # running requests stop retrying; queued ones are cancelled
        for fut in in_flight:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        stop.clear()
