"""veil: cover every face and licence plate in every frame of a video.

>>> import veil
>>> report = veil.anonymize("in.mp4", "out.mp4")   # doctest: +SKIP
>>> print(report.summary())                          # doctest: +SKIP
"""

from veil.errors import ConfigError, InputError, ModelError, OutputError, VeilError
from veil.parallel import anonymize
from veil.pipeline import AnonymizeOptions, Report

__all__ = ["AnonymizeOptions", "ConfigError", "InputError", "ModelError", "OutputError", "Report", "VeilError", "anonymize"]
__version__ = "0.1.0"
