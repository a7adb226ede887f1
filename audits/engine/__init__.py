"""The audit engine: pure computations on image sets, free of Django and Celery.

Each audit is one module with a `run(...)` function that takes loaded image sets (see
`types`) and parameters and returns an `AuditResult`. The web app, the Celery tasks, the
`manage.py audit` command line and the benchmarks all call the same functions.
"""

ENGINE_VERSION = "1.0.0"
