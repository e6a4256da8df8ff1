"""One /proc/cpuinfo reader behind the frozen dtype and the host record; the dtype it picks is
the same one the whole file's text gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from helmrl import devices
from helmrl.frozen import precision
from helmrl.frozen.precision import CPUInfo, cpu_has_fast_bf16, cpu_info, resolve_frozen_dtype


def test_cpu_info_is_read_once_and_matches_the_file():
    assert cpu_info() is cpu_info()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        assert cpu_info() == CPUInfo("", frozenset())
        return
    for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16"):
        assert (flag in cpu_info().flags) == bool(re.search(rf"(?<!\S){flag}(?!\S)", text))
    names = [line.partition(":")[2].strip() for line in text.splitlines() if line.startswith("model name")]
    assert cpu_info().model == (names[0] if names else "")


def test_native_bf16_decision_is_the_file_text_one(monkeypatch):
    for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"):
        monkeypatch.delenv(k, raising=False)
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    assert cpu_has_fast_bf16() is ("amx_bf16" in text or "avx512_bf16" in text)


@pytest.mark.parametrize(
    "flags,env,fast",
    [
        ({"avx2"}, {}, False),
        ({"avx2", "avx512f", "avx512_bf16"}, {}, True),
        ({"avx2", "amx_bf16"}, {}, True),
        ({"avx2", "amx_bf16"}, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, False),
        ({"avx2", "amx_bf16"}, {"ATEN_CPU_CAPABILITY": "avx2"}, False),
        ({"avx2", "amx_bf16"}, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, True),
    ],
)
def test_dtype_policy_and_host_record_read_the_same_flags(monkeypatch, flags, env, fast):
    fake = CPUInfo("Fake CPU 9000", frozenset(flags))
    monkeypatch.setattr(precision, "cpu_info", lambda: fake)
    monkeypatch.setattr(devices, "cpu_info", lambda: fake)
    for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert cpu_has_fast_bf16() is fast
    assert resolve_frozen_dtype("auto", "cpu") == (torch.bfloat16 if fast else torch.float32)
    record = devices.describe_device(torch.device("cpu"))
    shown = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    assert record.startswith(f"Fake CPU 9000 ({', '.join(shown)}), ")
