"""The op corpus on emulated Cortex-M cores (qemu mps2 boards, semihosting): the whole corpus of
tests/op_corpus.py on the Cortex-M7 (stm32f746) in both formats, and a smaller set on the M4F
(nrf52840), the M33 (stm32l552) and the FPU-less M3 (lpc1768, integer-only requantization)."""

from __future__ import annotations

import pytest
from compiler_harness import check_zoo
from op_corpus import CORPUS, SMALL, build

pytestmark = pytest.mark.qemu


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_on_cortex_m7(name, fmt, tmp_path):
    check_zoo(build(name), fmt, True, tmp_path, target="stm32f746", per_kind=1)


@pytest.mark.parametrize("target", ["nrf52840", "stm32l552", "lpc1768"])
@pytest.mark.parametrize("name", SMALL)
def test_small_corpus_on_other_cores(name, target, tmp_path):
    check_zoo(build(name), "qoperator", True, tmp_path, target=target, per_kind=1)
