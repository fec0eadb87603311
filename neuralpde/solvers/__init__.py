"""Solvers: the one interface, classical and learned solvers, rollouts.

* :mod:`~neuralpde.solvers.base` — the interface (``init``/``step``/``velocity``)
  and the helpers every runner uses.
* :mod:`~neuralpde.solvers.classical` — ``dns[-N]``, ``weno5-js[-N]``, ``weno5-z[-N]``.
* :mod:`~neuralpde.solvers.learned` — learned interpolation and TSM, and their builders.
* :mod:`~neuralpde.solvers.staggered` — staggered sub-solvers (fine set, one alone).
* :mod:`~neuralpde.solvers.rollout` — any solver → a trajectory; latency.
"""
