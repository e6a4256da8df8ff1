"""Every error helmrl raises on purpose, in one place that imports nothing.

The modules that raise them import them from here. This module imports nothing of torch or of
helmrl, so the CLI can catch them all without loading what raises them, and every layer may import
from it.

All but ``NonFiniteError`` are bad input (``BAD_INPUT``): ``helmrl`` prints them as one line and
exits with 2.
"""

from __future__ import annotations

__all__ = [
    "BAD_INPUT",
    "AnalysisError",
    "CheckpointError",
    "ConfigError",
    "DeviceError",
    "EnvError",
    "HistoryConfigError",
    "LanguageModelError",
    "NonFiniteError",
    "ObservationLayoutError",
    "RunDirError",
    "SpecError",
    "UsageError",
    "VisionEncoderError",
]


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class ConfigError(ValueError):
    """An invalid config value; the message names the field and what is allowed."""


class DeviceError(ValueError):
    """A device this machine does not have (message names the alternative)."""


class EnvError(ValueError):
    """An environment id or space that helmrl cannot use (message names the fix)."""


class SpecError(ValueError):
    """A sweep spec that cannot run; the message names the key."""


class RunDirError(ValueError):
    """A run directory that cannot be used as asked (message names the fix)."""


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or holds more than tensors and plain data."""


class ObservationLayoutError(ValueError):
    """An observation space the frozen history cannot read; the message says what to change."""


class HistoryConfigError(ValueError):
    """A history setting the chosen LM cannot meet (e.g. a layer it does not have)."""


class LanguageModelError(ValueError):
    """A language model could not be found or loaded (message says what to do)."""


class NonFiniteError(RuntimeError):
    """A loss or gradient became NaN/inf; the last good checkpoint is kept."""


class VisionEncoderError(ValueError):
    """The vision encoder could not be found or loaded (the message says how to get one)."""


class AnalysisError(ValueError):
    """An analysis that cannot describe its subject as asked (the message names what works)."""


#: the errors that are bad input, not bugs: printed as one line (``helmrl``, a seed group's members)
BAD_INPUT: tuple[type[Exception], ...] = (
    UsageError,
    ConfigError,
    EnvError,
    LanguageModelError,
    HistoryConfigError,
    CheckpointError,
    RunDirError,
    DeviceError,
    ObservationLayoutError,
    VisionEncoderError,
    AnalysisError,
    SpecError,
)
