"""helmrl: HELM (History comprEssion via Language Models, Paischer et al., ICML 2022)."""

__version__ = "0.1.0"

from . import envs as _envs  # noqa: F401 - registers helmrl's env ids and families with gymnasium
