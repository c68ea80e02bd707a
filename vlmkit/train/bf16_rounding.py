"""bf16 autocast's rounding, reproduced in fp32 arithmetic, for CPUs without bf16 instructions.

Why: the tiny recipes were tuned in bf16, and on a CPU without bf16 instructions torch emulates
bf16 autocast far slower than fp32 (docs/experiments/arithmetic.md). What bf16 autocast does
to the numbers is mostly this: the inputs of every matrix product
(linear layers, convolutions, attention's matmuls) are rounded to bf16, the product is summed
in fp32 and rounded to bf16; in the backward pass the gradients those products take and give
are rounded the same way. :class:`BF16Rounding` does that around fp32 kernels. Not all of
autocast: there element-wise ops on a product's bf16 output (an activation, a residual sum)
also compute in bf16; here they stay fp32. How close it comes to autocast's gradients, and
what it costs: docs/experiments/arithmetic.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

# the functions CPU autocast runs in bf16 that the tiny model calls (eager attention uses
# torch.matmul; Hugging Face's ViT patch embedding is a conv2d)
ROUNDED_FUNCTIONS = frozenset({F.linear, F.conv2d, torch.matmul, torch.bmm, torch.Tensor.matmul,
                               torch.Tensor.__matmul__, torch.Tensor.__rmatmul__})


def round_to_bf16(x: torch.Tensor) -> torch.Tensor:
    """``x`` rounded to bf16 precision, kept in its dtype; its gradient is rounded too.

    Two casts, no ``autograd.Function`` of our own: the backward of a cast is the cast back, so
    autograd rounds the gradient to bf16 on its way through, in C++."""
    return x.to(torch.bfloat16).to(x.dtype)


def _rounded(value):
    if isinstance(value, torch.Tensor) and value.dtype == torch.float32:
        return round_to_bf16(value)
    return value


class BF16Rounding(TorchFunctionMode):
    """Within this context every matrix product rounds its fp32 inputs and output to bf16
    precision, forward and backward, as bf16 autocast would. Tensors of other dtypes (token
    ids, masks) pass untouched; the losses and norms stay fp32, as under autocast."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in ROUNDED_FUNCTIONS:
            return func(*args, **kwargs)
        out = func(*[_rounded(a) for a in args], **{k: _rounded(v) for k, v in kwargs.items()})
        return _rounded(out)
