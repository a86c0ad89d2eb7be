"""Strided 4-D iteration spaces for the copy, quantize and dequantize kernels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agilenn_codegen.compiler import ir
from agilenn_codegen.errors import UserError


@dataclass(frozen=True)
class Strided:
    dims: tuple[int, ...]
    src_strides: tuple[int, ...]
    dst_strides: tuple[int, ...]
    src_offset: int = 0
    dst_offset: int = 0

    def c_init(self) -> str:
        def arr(v: tuple[int, ...]) -> str:
            return "{" + ", ".join(str(x) for x in v) + "}"

        return (
            f"{{.dims = {arr(self.dims)}, .src_strides = {arr(self.src_strides)}, "
            f".dst_strides = {arr(self.dst_strides)}, .src_offset = {self.src_offset}, "
            f".dst_offset = {self.dst_offset}}}"
        )


def logical_strides(tensor: ir.Tensor) -> dict[int, int]:
    """Element stride of each logical axis in the tensor's physical layout."""
    strides: dict[int, int] = {}
    step = 1
    for axis in reversed(tensor.physical_layout):
        strides[axis] = step
        step *= tensor.shape[axis]
    return strides


def _compact(dims: list[int], src: list[int], dst: list[int], what: str) -> tuple[tuple[int, ...], ...]:
    """Drop unit axes, merge axes that are contiguous in both buffers, pad to 4 axes."""
    items = [(d, s, t) for d, s, t in zip(dims, src, dst, strict=True) if d != 1]
    merged: list[tuple[int, int, int]] = []
    for d, s, t in items:
        if merged and merged[-1][1] == s * d and merged[-1][2] == t * d:
            pd, _, _ = merged[-1]
            merged[-1] = (pd * d, s, t)
        else:
            merged.append((d, s, t))
    if len(merged) > 4:
        raise UserError(f"{what}: a data movement over {len(merged)} non-trivial axes; at most 4 are supported")
    while len(merged) < 4:
        merged.insert(0, (1, 0, 0))
    return tuple(m[0] for m in merged), tuple(m[1] for m in merged), tuple(m[2] for m in merged)


def gather(
    src: ir.Tensor,
    dst: ir.Tensor,
    src_axis_of: Sequence[int],
    what: str,
    *,
    starts: Sequence[int] | None = None,
    steps: Sequence[int] | None = None,
) -> Strided:
    """Fill every element of `dst` (in its physical order) from `src`.

    dst's logical axis b reads src's logical axis src_axis_of[b], starting at starts[a] with step steps[a].
    """
    s_strides = logical_strides(src)
    d_strides = logical_strides(dst)
    dims, src_st, dst_st = [], [], []
    for b in dst.physical_layout:
        a = src_axis_of[b]
        dims.append(dst.shape[b])
        src_st.append(s_strides[a] * (steps[a] if steps else 1))
        dst_st.append(d_strides[b])
    offset = sum(starts[a] * s_strides[a] for a in range(len(src.shape))) if starts else 0
    d, s, t = _compact(dims, src_st, dst_st, what)
    return Strided(d, s, t, src_offset=offset)


def scatter_into(src: ir.Tensor, dst: ir.Tensor, axis: int, start: int, what: str) -> Strided:
    """Copy all of `src` into `dst` at `start` along logical `axis` (one input of a Concat)."""
    s_strides = logical_strides(src)
    d_strides = logical_strides(dst)
    dims, src_st, dst_st = [], [], []
    for b in dst.physical_layout:
        dims.append(src.shape[b])
        src_st.append(s_strides[b])
        dst_st.append(d_strides[b])
    d, s, t = _compact(dims, src_st, dst_st, what)
    return Strided(d, s, t, dst_offset=start * d_strides[axis])
