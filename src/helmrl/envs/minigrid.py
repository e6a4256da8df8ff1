"""MiniGrid / BabyAI: the egocentric 7×7 view rendered as a 56×56×3 RGB image."""

from __future__ import annotations

import gymnasium as gym

from .families import EnvFamily, register_family


def _import_minigrid() -> None:
    import minigrid  # noqa: F401 - registers the MiniGrid and BabyAI ids


def _pixels(env: gym.Env) -> gym.Env:
    from minigrid.wrappers import ImgObsWrapper, RGBImgPartialObsWrapper

    return ImgObsWrapper(RGBImgPartialObsWrapper(env))


MINIGRID = register_family(
    EnvFamily(
        name="minigrid",
        prefixes=("MiniGrid-", "BabyAI-"),
        description="MiniGrid/BabyAI, RGBImgPartialObsWrapper + ImgObsWrapper (56x56x3)",
        reward_norm=True,
        wrap=_pixels,
        import_hook=_import_minigrid,
    )
)
