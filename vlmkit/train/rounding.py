"""Half-precision autocast's rounding, reproduced in fp32 arithmetic: a CPU's stand-in for an
arithmetic it lacks.

Why: no CPU runs fp16 autocast as a T4 does, and a learner's T4 trains the tiny series in fp16
(docs/experiments/arithmetic.md): "fp16-rounded" lets a CPU check that it learns there. (bf16
rounding is kept as a type, not a Trainer precision: it is what tests check the rounding against,
bf16 being the one half type CPU autocast runs.) What autocast does to
the numbers is mostly this: the inputs of every matrix product
(linear layers, convolutions, attention's matmuls) are rounded to the half type, the product is
summed in fp32 and rounded; in the backward pass the gradients those products take and give
are rounded the same way. :class:`Rounding` does that around fp32 kernels, for bf16 or fp16.
Not all of autocast: there element-wise ops on a product's half output (an activation, a
residual sum) also compute in half precision; here they stay fp32. fp16's narrow range is why a
T4 scales the loss: the Trainer's "fp16-rounded" scales it too (``torch.amp.GradScaler``). How
close it comes to autocast's gradients, and what it costs: docs/experiments/arithmetic.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

# the functions CPU autocast runs in half precision that the tiny model calls (eager attention uses
# torch.matmul; Hugging Face's ViT patch embedding is a conv2d)
ROUNDED_FUNCTIONS = frozenset({F.linear, F.conv2d, torch.matmul, torch.bmm, torch.Tensor.matmul,
                               torch.Tensor.__matmul__, torch.Tensor.__rmatmul__})


# the Trainer's rounded precisions and the half type each rounds to
ROUNDED_PRECISIONS = {"fp16-rounded": torch.float16}


def round_to(x: torch.Tensor, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """``x`` rounded to ``dtype``'s precision (and range: fp16 overflows to inf above 65504), kept
    in its own dtype; its gradient is rounded too.

    Two casts, no ``autograd.Function`` of our own: the backward of a cast is the cast back, so
    autograd rounds the gradient on its way through, in C++."""
    return x.to(dtype).to(x.dtype)


class Rounding(TorchFunctionMode):
    """Within this context every matrix product rounds its fp32 inputs and output to ``dtype``
    (bf16 or fp16), forward and backward, as autocast in that type would. Tensors of other
    dtypes (token ids, masks) pass untouched; the losses and norms stay fp32, as under autocast."""

    def __init__(self, dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        self.dtype = dtype

    def _rounded(self, value):
        if isinstance(value, torch.Tensor) and value.dtype == torch.float32:
            return round_to(value, self.dtype)
        return value

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in ROUNDED_FUNCTIONS:
            return func(*args, **kwargs)
        out = func(*[self._rounded(a) for a in args], **{k: self._rounded(v) for k, v in kwargs.items()})
        return self._rounded(out)
