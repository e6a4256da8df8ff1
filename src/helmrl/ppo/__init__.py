"""PPO for every agent: the rollout buffer and GAE (``rollout``), the loss (``loss``), the acting
loop (``acting``), collect and update (``core``), the training loop (``trainer``), checkpoints and
the metrics on disk (``checkpoint``, ``metrics``).

Import from the modules; the package itself loads nothing, so reading a run's metrics.csv does not
load the trainer and its envs.
"""
