"""helmrl: HELM (History comprEssion via Language Models, Paischer et al., ICML 2022)."""

__version__ = "0.1.0"

from .envs.registration import register_envs as _register_envs

_register_envs()
