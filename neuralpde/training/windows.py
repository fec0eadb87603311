"""Training windows from a train store: a prefix of frames and the next ``unroll`` frames.

Window ``(sample, start)`` is the frames ``start .. start + prefix + unroll −
1`` of one trajectory: the first ``prefix`` frames are what the solver's
``init`` takes (1 for LI: the initial state; K for TSM, which encodes them),
the last ``unroll`` are the targets of the unrolled steps (the store must be
saved every model step, ``save_every == 1``, so one frame = one model step).  The batch of
update ``k`` is drawn from ``numpy.random.default_rng([seed, k])``: it depends on the step
number only, which is what lets a resumed run see exactly the windows an uninterrupted run
would have seen.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from neuralpde.config import ConfigError
from neuralpde.store.reading import trajectory_frames, window_frames

IN_MEMORY_LIMIT_BYTES = 2 * 2**30


def host_memory_bytes() -> int:
    """This host's physical memory in bytes (0 where the system does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return 0


class WindowSource:
    """Windows of ``prefix + unroll`` consecutive frames, ``(batch, prefix + unroll, 2, n, n)``
    float32.

    Stores under 2 GiB are loaded into memory once; larger ones are read window
    by window from zarr.
    """

    def __init__(self, train: xr.Dataset, unroll: int, seed: int, prefix: int = 1,
                 trajectories: int = 0):
        """``trajectories``: train on the first K trajectories of the store only (0: all).

        Raises :class:`ConfigError` for a store not saved every model step, a
        window longer than its trajectories or more trajectories than it holds.
        """
        if int(train.attrs["save_every"]) != 1:
            raise ConfigError(f"training needs a train store saved every model step: this one has "
                              f"save_every={train.attrs['save_every']} (accepted 1)")
        n_frames = train.sizes["time"]
        if unroll + prefix > n_frames:
            what = f"prefix {prefix} + unroll {unroll}" if prefix > 1 else f"1 + unroll {unroll}"
            raise ConfigError(f"a training window of {what} = {prefix + unroll} frames does not "
                              f"fit the train store's {n_frames} frames per trajectory: accepted "
                              + (f"--prefix + --unroll <= {n_frames}" if prefix > 1
                                 else f"--unroll <= {n_frames - 1}"))
        held = train.sizes["sample"]
        if not (isinstance(trajectories, int) and 0 <= trajectories <= held):
            raise ConfigError(f"invalid train_trajectories={trajectories}: accepted 0 (all) to "
                              f"{held} (the train store holds {held} trajectories)")
        if trajectories:
            train = train.isel(sample=slice(0, trajectories))
        self.unroll, self.seed, self.prefix = unroll, seed, prefix
        self.length = prefix + unroll
        self.n_samples, self.n_starts = train.sizes["sample"], n_frames - self.length + 1
        if train.u.nbytes * 2 <= IN_MEMORY_LIMIT_BYTES:
            self._uv = trajectory_frames(train)  # refuses undecodable chunks, non-finite values
        else:
            self._uv = None
            self._train = train

    def check_batch(self, batch_size: int) -> None:
        """Refuse (:class:`ConfigError`) a batch whose windows alone exceed this host's memory,
        before any work (it would fail at the first update, after the run folder is written)."""
        frame = self._uv.shape[-3:] if self._uv is not None else (
            2, self._train.sizes["x"], self._train.sizes["y"])
        needed = batch_size * self.length * int(np.prod(frame)) * 4
        available = host_memory_bytes()
        if available and needed > available:
            raise ConfigError(f"invalid batch_size={batch_size}: its windows of {self.length} "
                              f"frames need {needed / 2**30:.3g} GiB, more than this host's "
                              f"{available / 2**30:.3g} GiB of memory (out of memory); accepted "
                              f"at most {max(available // (needed // batch_size), 1)}")

    def indices(self, step: int, batch_size: int) -> np.ndarray:
        """``(batch, 2)`` (sample, start) pairs of update ``step``."""
        rng = np.random.default_rng([self.seed, step])
        return np.stack([rng.integers(0, self.n_samples, batch_size),
                         rng.integers(0, self.n_starts, batch_size)], axis=1)

    def window(self, sample: int, start: int) -> np.ndarray:
        frames = slice(start, start + self.length)
        if self._uv is not None:
            return self._uv[sample, frames]
        return window_frames(self._train, int(sample), int(start), self.length)

    def prefixes(self, count: int) -> np.ndarray:
        """``(count', prefix, 2, n, n)``: prefixes spread evenly over every trajectory and time.

        ``count'`` is ``count`` rounded down to a multiple of the trajectories
        (at least one per trajectory); deterministic (no random draw).
        """
        per_sample = max(count // self.n_samples, 1)
        starts = np.unique(np.linspace(0, self.n_starts - 1, per_sample).round().astype(int))
        return np.stack([self.window(sample, start)[:self.prefix]
                         for sample in range(self.n_samples) for start in starts])

    def batch(self, step: int, batch_size: int, rows: slice = slice(None)) -> np.ndarray:
        """The windows of update ``step``, ``(rows of batch_size, prefix + unroll, 2, n, n)``.

        ``rows``: the part of the batch to read (a process's share in a
        multi-process run); the draw is the whole batch's either way.
        """
        return np.stack([self.window(s, t) for s, t in self.indices(step, batch_size)[rows]])
