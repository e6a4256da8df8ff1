"""Old home of ``plot_learning_curve``: the plotter is ``helmrl.analysis.curves``."""

from .curves import plot_learning_curve as plot_learning_curve

__all__ = ["plot_learning_curve"]
