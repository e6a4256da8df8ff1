"""Analysis and plots: learning curves, FrozenHopfield distances and words, attention maps."""
