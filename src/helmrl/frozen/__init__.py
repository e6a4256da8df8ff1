"""The frozen, untrained transform of HELM and its variants: nothing here has a gradient.

    h_t = PLT(x_1 .. x_t),   x_i = Eᵀ softmax(β · sim(E, P o_i))   (HELM)

FrozenHopfield (``frozen_hopfield``), the frozen LM and its streaming KV-cache memory
(``language_model``, ``lm_memory``), the history stage that joins them (``history_stage``), and
HELMv2's and SHELM's CLIP input maps (``vision_inputs``). What trains is in ``helmrl.models``.

Import from the modules; the package itself loads nothing, so the torch-free config
(``helmrl.frozen.history_config``) loads without the LM code. ``helmrl`` is the lazy front door
for the names a user composes.
"""
