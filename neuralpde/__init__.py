"""neuralpde: neural PDE solvers for 2-D incompressible Navier–Stokes turbulence, on JAX.

Layers, bottom up (a module imports only from its own layer's package or below):

* ``config``, ``progress``, ``sharding`` — config helpers and errors, progress
  bars, device meshes;
* ``numerics`` — classical face-value schemes (van Leer, WENO5-JS/Z);
* ``physics`` — every jax-cfd call: flows, DNS, convection, operators, decomposition;
* ``models`` (Flax networks and their configs) and ``store`` (presets,
  generation, the trajectory store);
* ``solvers`` — the one solver interface, classical/learned/staggered solvers, rollouts;
* ``evaluation`` — metrics, the one scoring pipeline, results folders, comparison;
* ``training`` — one loop for every learned kind, losses, run folders;
* ``registry`` — solver names → solvers; ``quickstart``; ``cli``.

See docs/guide.md for the map of names.
"""

__version__ = "0.1.0"
