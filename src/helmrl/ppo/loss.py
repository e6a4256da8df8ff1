"""The clipped PPO loss on one minibatch."""

from __future__ import annotations

import torch
from torch.distributions import Categorical

from ..models.agents import Agent
from .metrics import STAT_NAMES as STAT_NAMES  # the stats tensor's rows
from .rollout import Rollout


def ppo_loss(
    agent: Agent,
    mb: Rollout,
    *,
    clip_coef: float,
    ent_coef: float,
    vf_coef: float,
    norm_adv: bool = True,
) -> tuple[torch.Tensor, dict, dict]:
    """Clipped PPO loss on one minibatch of (T', n) tensors (only the steps ``mb.mask`` marks, where
    it is set) -> (loss, stats, terms); ``stats["stats"]``
    holds one value per name of ``STAT_NAMES`` (``helmrl.ppo.metrics``), in that order.

    L = E[max(-A·r, -A·clip(r, 1±ε))] - c_ent·H[π] + c_vf·E[(V - R)²] with r = π/π_old and A
    normalised per minibatch (Schulman et al., 2017; the value term as in the authors' code and SB3)."""
    logits, value = agent.evaluate(mb.obs, mb.initial_state, mb.starts)
    actions, old_logprobs, adv, returns = mb.actions, mb.logprobs, mb.advantages, mb.returns
    if mb.mask is not None:  # padded episode segments: only the steps they hold count
        m = mb.mask
        logits, value, actions, old_logprobs, adv, returns = (
            x[m] for x in (logits, value, actions, old_logprobs, adv, returns)
        )
    dist = Categorical(logits=logits)
    logratio = dist.log_prob(actions) - old_logprobs
    ratio = logratio.exp()
    if norm_adv and adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()
    v_loss = (value - returns).pow(2).mean()  # MSE, no value clipping (authors' code, SB3)
    entropy = dist.entropy().mean()
    loss = pg_loss - ent_coef * entropy + vf_coef * v_loss
    with torch.no_grad():
        stats = torch.stack(
            [
                pg_loss,
                v_loss,
                entropy,
                ((ratio - 1) - logratio).mean(),
                ((ratio - 1).abs() > clip_coef).float().mean(),
            ]
        )
    return loss, {"stats": stats}, {"pg": pg_loss, "value": v_loss, "entropy": entropy}
