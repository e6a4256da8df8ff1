"""The frozen LM as a per-env streaming memory: one FrozenHopfield vector in, one history
representation out, per env and step.

Semantics (what a step computes, exactly):
  For env b at episode step i (i = 0 on the episode's first observation), every layer's
  query attends to the keys of steps j of the *same episode* with

      j <= i  and  (j < n_sink  or  i - j < mem_len - n_sink)

  i.e. the episode's first ``n_sink`` steps ("attention sinks", Xiao et al. 2023) plus the
  most recent ``mem_len - n_sink`` steps, with rotary/absolute positions = episode step i.
  This equals one full-sequence forward of the episode with that attention mask
  (``streaming_attention_mask``), which is what the tests compare against. Until an
  episode is ``mem_len`` steps long it is plain causal attention over the whole episode.

Why sinks: with a rotary LM, a window that simply drops the episode's first step drifts far
from anything the LM saw in pretraining (the first positions soak up attention). Keeping
them is cheap and stable, and the cost per step stays constant however long an episode is.

Storage: a preallocated ring buffer of keys/values, (layers, envs, kv_heads, mem_len,
head_dim); slot s < n_sink holds step s, later steps cycle through the other slots. On an
episode start the env's slots are masked out (never attended), not zeroed-and-attended.
"""

from __future__ import annotations

import copy
import inspect

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LLAMA_LIKE = {"llama", "mistral", "qwen2", "qwen3", "smollm3"}


def streaming_attention_mask(seq_len: int, mem_len: int, n_sink: int) -> Tensor:
    """Bool (seq_len, seq_len) mask, True = may attend: the reference for the memory's semantics."""
    i = torch.arange(seq_len)[:, None]
    j = torch.arange(seq_len)[None, :]
    return (j <= i) & ((j < n_sink) | (i - j < mem_len - n_sink))


class StreamingLMMemory(nn.Module):
    """Bookkeeping shared by the implementations: positions, slots and the validity mask."""

    #: dtype of the key/value ring buffer and the step's input; None: the weights' dtype
    state_dtype: torch.dtype | None = None

    def __init__(
        self,
        model: nn.Module,
        n_envs: int,
        mem_len: int,
        n_sink: int,
        dtype: torch.dtype,
        layers: tuple[int, ...] | None = None,
    ):
        super().__init__()
        if mem_len < 1:
            raise ValueError(f"mem_len must be >= 1, got {mem_len}")
        if not 0 <= n_sink < mem_len:
            raise ValueError(f"n_sink must be in [0, mem_len), got {n_sink} with mem_len {mem_len}")
        cfg = model.config
        # Plain attribute, not a submodule: the memory's state_dict is the ring buffer only.
        object.__setattr__(self, "model", model)
        self.n_envs = n_envs
        self.mem_len = mem_len
        self.n_sink = n_sink
        self.dtype = dtype
        self.state_dtype = self.state_dtype or dtype
        self.hidden_size = cfg.hidden_size
        self.n_layers = cfg.num_hidden_layers
        # Which hidden states the step returns (concatenated), numbered as transformers'
        # output_hidden_states: 0 = the inputs, k = after k layers, n_layers = the final state
        # after the last norm (the paper's choice, the default). Layers above the deepest one
        # asked for are never run.
        self.layers = tuple(layers) if layers is not None else (self.n_layers,)
        if not self.layers or any(not 0 <= k <= self.n_layers for k in self.layers):
            raise ValueError(f"layers must be in 0..{self.n_layers}, got {self.layers}")
        self.out_dim = self.hidden_size * len(self.layers)
        self.n_heads = cfg.num_attention_heads
        self.n_kv = getattr(cfg, "num_key_value_heads", None) or self.n_heads
        self.head_dim = getattr(cfg, "head_dim", None) or self.hidden_size // self.n_heads
        dev = self.device = next(model.parameters()).device  # the memory lives beside the LM
        shape = (self.n_layers, n_envs, self.n_kv, mem_len, self.head_dim)
        kv = dict(dtype=self.state_dtype, device=dev)
        self.register_buffer("keys", torch.zeros(shape, **kv), persistent=True)
        self.register_buffer("values", torch.zeros(shape, **kv), persistent=True)
        self.register_buffer("position", torch.zeros(n_envs, dtype=torch.long, device=dev))
        self.register_buffer("valid", torch.zeros(n_envs, mem_len, dtype=torch.bool, device=dev))
        self._env_index = torch.arange(n_envs, device=dev)
        self._true = torch.ones(n_envs, dtype=torch.bool, device=dev)

    def reset(self) -> None:
        """Forget every env's history."""
        self.position.zero_()
        self.valid.zero_()

    def _advance(self, episode_start: Tensor) -> tuple[Tensor, Tensor]:
        """Clear envs whose episode starts now; return this step's positions and slots."""
        episode_start = episode_start.to(torch.bool)
        self.position.masked_fill_(episode_start, 0)
        self.valid.masked_fill_(episode_start[:, None], False)
        pos = self.position.clone()
        return pos, self._slot_of(pos)

    def _slot_of(self, pos: Tensor) -> Tensor:
        """Ring-buffer slot of each env's step ``pos``: the first n_sink steps keep their own slots."""
        ring = self.mem_len - self.n_sink
        return torch.where(pos < self.n_sink, pos, self.n_sink + (pos - self.n_sink) % ring)

    @torch.inference_mode()
    def forward(self, x: Tensor, episode_start: Tensor) -> Tensor:
        """x: (n_envs, m) LM inputs for this step; episode_start: (n_envs,) bool. -> (n_envs, m)."""
        if x.shape != (self.n_envs, self.hidden_size):
            raise ValueError(f"expected inputs ({self.n_envs}, {self.hidden_size}), got {tuple(x.shape)}")
        return self._advance_and_step(x.to(self.device, self.state_dtype), episode_start.to(self.device))

    @torch.inference_mode()
    def snapshot_step(self, episode_start: Tensor) -> tuple[Tensor, ...]:
        """What the next ``forward(x, episode_start)`` will overwrite: positions, validity, and the
        one key/value slot per env it writes (a few KB, not the whole ring buffer)."""
        start = episode_start.to(self.device, torch.bool)
        slot = self._slot_of(torch.where(start, torch.zeros_like(self.position), self.position))
        keys = self.keys[:, self._env_index, :, slot].clone()
        values = self.values[:, self._env_index, :, slot].clone()
        return self.position.clone(), self.valid.clone(), slot, keys, values

    @torch.inference_mode()
    def restore_step(self, saved: tuple[Tensor, ...]) -> None:
        """Undo the step taken after ``snapshot_step``: the memory is exactly as it was."""
        position, valid, slot, keys, values = saved
        self.position.copy_(position)
        self.valid.copy_(valid)
        self.keys[:, self._env_index, :, slot] = keys
        self.values[:, self._env_index, :, slot] = values

    def _advance_and_step(self, x: Tensor, episode_start: Tensor) -> Tensor:
        pos, slot = self._advance(episode_start)
        out = self._step(x, pos, slot)
        self.position += 1
        return out.float()

    def _step(self, x: Tensor, pos: Tensor, slot: Tensor) -> Tensor:
        raise NotImplementedError


class FastDecoderMemory(StreamingLMMemory):
    """Hand-written single-token decoder step for Llama-style models (SmolLM2, Mistral, Qwen2).

    Reads the HF module's weights once (fused QKV and gate/up), then runs each step as a few
    GEMMs per layer with the ring buffer: no cache objects, no growing tensors, no per-step
    mask building inside transformers.

    Mixed precision: only the four big weight matrices per layer are in ``dtype`` (bf16 where
    it is native); the residual stream, norms, rotary, attention and the key/value buffer stay
    fp32. SmolLM2's residual stream carries a few activations in the thousands, and attention
    scores near the sinks in the hundreds, where bf16's spacing (≥ 1) changes softmax weights
    by factors of e: an all-bf16 step drifted to cosine < 0 against fp32 within 5 steps.
    """

    state_dtype = torch.float32
    #: the step's four GEMMs per layer; ``linear(x, f"{layer}.{name}")`` runs one of them
    GEMMS: tuple[str, ...] = ("qkv", "o", "gate_up", "down")

    def __init__(
        self,
        model: nn.Module,
        n_envs: int,
        mem_len: int,
        n_sink: int,
        dtype: torch.dtype,
        prepack: bool = True,
        layers: tuple[int, ...] | None = None,
    ):
        super().__init__(model, n_envs, mem_len, n_sink, dtype, layers)
        base = model.model
        object.__setattr__(self, "rotary", base.rotary_emb)
        self.eps = base.norm.variance_epsilon
        self.scale = self.head_dim**-0.5
        w = {}
        for i, layer in enumerate(base.layers):
            att, mlp = layer.self_attn, layer.mlp
            w[f"{i}.qkv"] = torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight]).t()
            if att.q_proj.bias is not None:
                w[f"{i}.qkv_bias"] = torch.cat([att.q_proj.bias, att.k_proj.bias, att.v_proj.bias])
            w[f"{i}.o"] = att.o_proj.weight.t()
            w[f"{i}.gate_up"] = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]).t()
            w[f"{i}.down"] = mlp.down_proj.weight.t()
            w[f"{i}.ln1"] = layer.input_layernorm.weight
            w[f"{i}.ln2"] = layer.post_attention_layernorm.weight
            qn = getattr(att, "q_norm", None)
            if qn is not None:  # Qwen3-style per-head norms
                w[f"{i}.qn"], w[f"{i}.kn"] = qn.weight, att.k_norm.weight
        w["norm"] = base.norm.weight
        big = tuple(f".{g}" for g in self.GEMMS)
        self._w = {
            k: v.detach().to(dtype if k.endswith(big) else torch.float32).contiguous() for k, v in w.items()
        }
        # oneDNN with weights pre-packed for this batch size: 1.4-2.5x faster than a plain
        # matmul at 16-64 rows on the CPUs measured (benchmarks/throughput.py). CPU only.
        self._packed = prepack and self.device.type == "cpu" and _onednn_usable(dtype)
        if self._packed:
            for k in [k for k in self._w if k.endswith(big)]:
                self._w[k] = torch.ops.mkldnn._reorder_linear_weight(self._w[k].t().contiguous(), n_envs)

        #: The one-query attention through torch's fused ``scaled_dot_product_attention``
        #: instead of two batched matmuls: the same arithmetic up to float rounding, slower on
        #: the CPUs measured (benchmarks/lm_step_levers.py), so off.
        self.fused_attention = False
        #: Attend over slots [0, filled) only, where ``filled`` is the most slots any env holds
        #: this step (a host sync, so CPU only). Exact: the slots beyond it are masked for every
        #: env, so they add exactly zero to each softmax; it only stops reading them. At 512
        #: slots and KeyCorridor's episodes (≤ 270 steps) most of the cache is never read.
        self.trim_unused_slots = self.device.type == "cpu"
        #: On CUDA one step is ~600 small kernels: replaying them as one CUDA graph removes the
        #: launch overhead that otherwise dominates at tens of envs (static shapes, so no trim).
        self.use_cuda_graph = self.device.type == "cuda"
        self._graph: torch.cuda.CUDAGraph | None = None
        # rotate_half(x) * sin == flip_halves(x) * signed_sin: one flip instead of chunk/neg/cat
        half = self.head_dim // 2
        self._sign = torch.cat([-torch.ones(half), torch.ones(half)]).to(self.device)

    @torch.inference_mode()
    def forward(self, x: Tensor, episode_start: Tensor) -> Tensor:
        if not self.use_cuda_graph:
            return super().forward(x, episode_start)
        if x.shape != (self.n_envs, self.hidden_size):
            raise ValueError(f"expected inputs ({self.n_envs}, {self.hidden_size}), got {tuple(x.shape)}")
        if self._graph is None:
            self._capture()
            if self._graph is None:  # capture failed: stay eager
                return super().forward(x, episode_start)
        self._x_in.copy_(x)
        self._start_in.copy_(episode_start)
        self._graph.replay()
        return self._out.clone()

    def _capture(self) -> None:
        """Record one step as a CUDA graph over static input buffers; the ring buffer, positions
        and validity mask are the graph's own tensors, so replays advance the memory."""
        state = [t.clone() for t in (self.keys, self.values, self.position, self.valid)]
        self._x_in = torch.zeros(self.n_envs, self.hidden_size, device=self.device, dtype=self.state_dtype)
        self._start_in = torch.ones(self.n_envs, dtype=torch.bool, device=self.device)
        try:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(2):  # warm-up outside the graph (allocator, kernels' first use)
                    self._advance_and_step(self._x_in, self._start_in)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._out = self._advance_and_step(self._x_in, self._start_in)
            self._graph = graph
        except RuntimeError as err:  # an op that cannot be captured: eager from here on
            import warnings

            msg = str(err).splitlines()[0]
            warnings.warn(f"CUDA graph capture of the LM step failed, running eagerly ({msg})", stacklevel=2)
            self.use_cuda_graph = False
        for t, saved in zip((self.keys, self.values, self.position, self.valid), state, strict=True):
            t.copy_(saved)  # the warm-up steps must leave no trace

    @property
    def packed(self) -> bool:
        """Whether the GEMMs run on oneDNN weights pre-packed for ``n_envs`` rows (``prepack``
        asked for it, on a CPU whose oneDNN computes ``dtype`` natively)."""
        return self._packed

    def linear(self, x: Tensor, name: str) -> Tensor:
        """One of the step's GEMMs alone, on the weights the step uses (pre-packed or not, in
        ``dtype``): ``name`` is ``"<layer>.<gemm>"`` with ``gemm`` one of ``GEMMS``; fp32 in, fp32
        out. For measuring the step's arithmetic floor (benchmarks/throughput.py)."""
        layer, _, gemm = name.partition(".")
        if gemm not in self.GEMMS or not layer.isdigit() or name not in self._w:
            raise ValueError(f"no GEMM {name!r}: expected '<layer>.<gemm>' with gemm in {self.GEMMS}")
        return self._mm(x, name)

    def _mm(self, x: Tensor, name: str) -> Tensor:
        """fp32 in, fp32 out; the GEMM itself in the weights' dtype."""
        x = x.to(self.dtype)
        if self._packed:
            y = torch.ops.mkldnn._linear_pointwise(x, self._w[name], None, "none", [], "")
        else:
            y = x @ self._w[name]
        return y.float()

    def _rms(self, h: Tensor, weight: Tensor) -> Tensor:
        return F.rms_norm(h, (h.shape[-1],), weight, self.eps)

    def _rotary(self, x: Tensor, cos: Tensor, signed_sin: Tensor) -> Tensor:
        """x·cos + rotate_half(x)·sin, with rotate_half as a flip of the two halves times ±1."""
        flipped = x.unflatten(-1, (2, -1)).flip(-2).flatten(-2)
        return torch.addcmul(x * cos, flipped, signed_sin)

    def _step(self, x: Tensor, pos: Tensor, slot: Tensor) -> Tensor:
        B, H, Hkv, D = self.n_envs, self.n_heads, self.n_kv, self.head_dim
        G = H // Hkv
        w = self._w
        cos, sin = self.rotary(x, pos[:, None])  # (B, 1, D)
        cos = cos.to(x.dtype).view(B, 1, D)
        signed_sin = sin.to(x.dtype).view(B, 1, D) * self._sign
        # a device tensor, not a Python True (that would be a host-to-device copy per step,
        # which a CUDA graph cannot capture)
        self.valid.index_put_((self._env_index, slot), self._true)
        L = self.mem_len
        if self.trim_unused_slots:  # slots 0..min(pos, mem_len - 1) are the only ones filled
            L = min(int(pos.max()) + 1, self.mem_len)
        # One additive mask per step, shared by every layer: 0 where allowed, -inf elsewhere.
        bias = torch.zeros(B, 1, 1, L, device=x.device, dtype=x.dtype)
        bias = bias.masked_fill_(~self.valid[:, None, None, :L], float("-inf"))
        bias = bias.expand(B, Hkv, G, L).reshape(B * Hkv, G, L)
        h = x
        states = {0: x} if 0 in self.layers else {}
        for i in range(min(max(self.layers), self.n_layers)):
            a = self._rms(h, w[f"{i}.ln1"])
            qkv = self._mm(a, f"{i}.qkv")
            if f"{i}.qkv_bias" in w:
                qkv = qkv + w[f"{i}.qkv_bias"]
            v = qkv[:, (H + Hkv) * D :].view(B, Hkv, D)
            if f"{i}.qn" in w:  # Qwen3: per-head norms before rotary
                q = self._rms(qkv[:, : H * D].view(B, H, D), w[f"{i}.qn"])
                k = self._rms(qkv[:, H * D : (H + Hkv) * D].view(B, Hkv, D), w[f"{i}.kn"])
                qk = torch.cat([q, k], dim=1)
            else:
                qk = qkv[:, : (H + Hkv) * D].view(B, H + Hkv, D)
            qk = self._rotary(qk, cos, signed_sin)  # (B, H + Hkv, D)
            q, k = qk[:, :H], qk[:, H:]
            self.keys[i, self._env_index, :, slot] = k
            self.values[i, self._env_index, :, slot] = v
            keys, values = self.keys[i, :, :, :L], self.values[i, :, :, :L]  # (B, Hkv, L, D)
            if self.fused_attention:  # the G queries of a KV head attend as one group (GQA)
                mask = self.valid[:, None, None, :L]
                att = F.scaled_dot_product_attention(q.reshape(B, Hkv, G, D), keys, values, attn_mask=mask)
            else:  # one query per env: plain batched matmuls beat SDPA here
                scores = torch.baddbmm(
                    bias,
                    q.reshape(B * Hkv, G, D),
                    keys.reshape(B * Hkv, L, D).transpose(1, 2),
                    alpha=self.scale,
                )
                att = torch.bmm(torch.softmax(scores, dim=-1), values.reshape(B * Hkv, L, D))
            h = h + self._mm(att.reshape(B, H * D), f"{i}.o")
            a = self._rms(h, w[f"{i}.ln2"])
            gate, up = self._mm(a, f"{i}.gate_up").chunk(2, dim=-1)
            h = h + self._mm(F.silu(gate) * up, f"{i}.down")
            if i + 1 in self.layers and i + 1 < self.n_layers:
                states[i + 1] = h
        if self.n_layers in self.layers:
            states[self.n_layers] = self._rms(h, w["norm"])
        return torch.cat([states[k] for k in self.layers], dim=-1)


def _onednn_usable(dtype: torch.dtype) -> bool:
    """oneDNN's packed linear, where this torch build has it (checked on a tiny problem).
    bf16 only where the CPU computes it natively (AVX512-BF16 / AMX), never emulated."""
    from .precision import cpu_has_fast_bf16

    if dtype not in (torch.float32, torch.bfloat16) or not torch.backends.mkldnn.is_available():
        return False
    if dtype == torch.bfloat16 and not cpu_has_fast_bf16():
        return False
    try:
        g = torch.Generator().manual_seed(0)  # never touch the global RNG (runs must replay)
        w, x = torch.randn(3, 5, generator=g), torch.randn(2, 5, generator=g)
        w, x = w.to(dtype), x.to(dtype)
        packed = torch.ops.mkldnn._reorder_linear_weight(w, 2)
        y = torch.ops.mkldnn._linear_pointwise(x, packed, None, "none", [], "")
        tol = 1e-5 if dtype == torch.float32 else 5e-2
        return bool(torch.allclose(y.float(), (x @ w.t()).float(), atol=tol))
    except (RuntimeError, AttributeError):
        return False


class HFCacheMemory(StreamingLMMemory):
    """Any Hugging Face causal LM: the ring buffer is handed to the model as a DynamicCache,
    with a 4D mask and per-env position ids; the new step's key/value is copied back.
    Slower than the fast path (a cache is rebuilt per step) but architecture-agnostic."""

    def __init__(
        self,
        model: nn.Module,
        n_envs: int,
        mem_len: int,
        n_sink: int,
        dtype: torch.dtype,
        layers: tuple[int, ...] | None = None,
    ):
        if any(p.dtype != dtype for p in model.parameters()):
            model = copy.deepcopy(model).to(dtype)  # a private copy: never cast the caller's LM
        super().__init__(model, n_envs, mem_len, n_sink, dtype, layers)
        params = inspect.signature(model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"

    def _step(self, x: Tensor, pos: Tensor, slot: Tensor) -> Tensor:
        from transformers import DynamicCache

        # The slot this step overwrites holds the step leaving the window: never attended.
        old = self.valid.clone()
        old[self._env_index, slot] = False
        allowed = torch.cat([old, torch.ones(self.n_envs, 1, dtype=torch.bool, device=self.device)], dim=1)
        mask = torch.zeros(allowed.shape, dtype=self.dtype, device=self.device).masked_fill(
            ~allowed, torch.finfo(self.dtype).min
        )[:, None, None, :]
        cache = DynamicCache(config=self.model.config)  # handed over as `cache=` below
        for i in range(self.n_layers):
            cache.update(self.keys[i], self.values[i], i)
        out = self.model(
            inputs_embeds=x[:, None, :],
            attention_mask=mask,
            position_ids=pos[:, None],
            **{self._cache_kwarg: cache},
            use_cache=True,
            output_hidden_states=True,
        )
        for i in range(self.n_layers):
            layer = cache.layers[i]
            self.keys[i, self._env_index, :, slot] = layer.keys[:, :, -1]
            self.values[i, self._env_index, :, slot] = layer.values[:, :, -1]
        self.valid[self._env_index, slot] = True
        return torch.cat([out.hidden_states[k][:, -1] for k in self.layers], dim=-1)


def make_lm_memory(
    model: nn.Module,
    n_envs: int,
    mem_len: int,
    n_sink: int = 4,
    dtype: torch.dtype = torch.float32,
    implementation: str = "auto",
    prepack: bool = True,
    layers: tuple[int, ...] | None = None,
) -> StreamingLMMemory:
    """The fast decoder for Llama-style models, the generic HF path for everything else."""
    if implementation == "auto":
        implementation = "fast" if model.config.model_type in _LLAMA_LIKE else "hf"
    if implementation == "fast":
        if model.config.model_type not in _LLAMA_LIKE:
            raise ValueError(
                f"the fast memory supports {sorted(_LLAMA_LIKE)}, not {model.config.model_type!r}; "
                "use implementation='hf'"
            )
        return FastDecoderMemory(model, n_envs, mem_len, n_sink, dtype, prepack=prepack, layers=layers)
    if implementation == "hf":
        return HFCacheMemory(model, n_envs, mem_len, n_sink, dtype, layers=layers)
    raise ValueError(f"implementation must be auto, fast or hf; got {implementation!r}")
