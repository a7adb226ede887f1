"""The audit engine: pure computations on image sets, free of Django and Celery.

Each audit is one module with a `run(...)` function that takes loaded image sets (see
`types`) and parameters and returns an `AuditResult`. The web app, the Celery tasks, the
`manage.py audit` command line and the benchmarks all call the same functions.
"""

# 1.1.0: the fidelity audit's pixel KS D pools a fixed sample per image (computable in chunk tasks),
# so ks_D and ks_D_baseline differ from 1.0.0 within sampling noise; every other figure is unchanged.
ENGINE_VERSION = "1.1.0"
