"""Putting trained models to work (no Qt): degradation operators and restoration solvers,
image quality (PSNR, SSIM), anomaly ROC, attribute directions and Bayesian-network queries.

Every solver asks a model for a capability, never for its family: see
:mod:`genstudio.apply.solvers`.
"""
