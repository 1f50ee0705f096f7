"""LTSI: long- and short-term interest models of behavior logs, with explanations.

The flow, one module per stage:
CSV -> `events` -> `sequences` -> `splits` -> `batches` -> `model` -> `train` (settings from `plan`) -> `evaluate` ->
`recommend` -> `attribution` -> `explain` -> `insights`.
"""

from ltsi.errors import LTSIError

__all__ = ["LTSIError"]
__version__ = "0.1.0"
