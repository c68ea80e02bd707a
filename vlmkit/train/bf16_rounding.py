"""bf16 autocast's rounding, reproduced in fp32 arithmetic, for CPUs without bf16 instructions.

The tiny grounding recipe learned reliably only in bf16 autocast: every bf16 run ended above
Acc@0.5 0.90, fp32 runs of the same recipe at 0.79-0.92, the failures never binding colour
words (docs/experiments.md#bf16). On a CPU without bf16 instructions torch emulates bf16
matrix products, 12.5x slower than fp32 on our AMD EPYC, so there autocast is no option.
What bf16 autocast does to the numbers is mostly this: the inputs of every matrix product
(linear layers, convolutions, attention's matmuls) are rounded to bf16, the product is summed
in fp32 and rounded to bf16; in the backward pass the gradients those products take and give
are rounded the same way. :class:`BF16Rounding` does that around fp32 kernels, for 1.3-1.4x
fp32's time a tiny grounding step (the casts). Not all of autocast: there element-wise ops on
a product's bf16 output (an activation, a residual sum) also compute in bf16; here they stay
fp32. The gradients of a tiny grounding batch come out about 0.2% from autocast's
(median relative difference over the parameters), plain fp32's about 0.45%; seed 0 of the
grounding recipe learned with it as in bf16 (Acc@0.5 0.896, colour-only 0.95) where plain fp32
did not (0.855, 0.78).
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
    autograd rounds the gradient to bf16 on its way through, in C++. The same bits as a Python
    ``autograd.Function`` that rounds forward and backward, and no slower
    (docs/experiments.md#step-profile)."""
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
