"""Progress bars that cost nothing when switched off.

``progress_bar(False, ...)`` returns a silent stand-in without importing tqdm
(``tqdm.auto`` warns in notebooks without ipywidgets even for a disabled bar).
"""

from __future__ import annotations


class _Silent:
    """The part of tqdm's interface the package uses, doing nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(enabled: bool, total: int, description: str, unit: str = "step", initial: int = 0):
    """A ``tqdm.auto`` bar of ``total`` units when ``enabled``, else a silent stand-in."""
    if not enabled:
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit=unit, dynamic_ncols=True,
                leave=True)
