"""One video on N workers: the segment plan, the driver, the local pool, Ray, and staging through an object store.

>>> import veil.parallel
>>> report = veil.parallel.anonymize("in.mp4", "out.mp4", jobs=2)   # doctest: +SKIP
"""

from veil.parallel.driver import anonymize
from veil.parallel.engines import ENGINES, Engine, make_engine, threads_per_task
from veil.parallel.plan import plan

__all__ = ["ENGINES", "Engine", "anonymize", "make_engine", "plan", "threads_per_task"]
