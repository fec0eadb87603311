"""Evaluation of neural PDE solvers: metrics (vorticity correlation, spectra, energy), latency."""
