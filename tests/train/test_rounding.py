import contextlib

import pytest
import torch
import torch.nn.functional as F

from vlmkit.text.processor import Processor
from vlmkit.train.rounding import Rounding, round_to
from vlmkit.train.profiles import new_model
from vlmkit.train.streams import multi_object_world, shapeworld_stream


def _is_bf16_exact(x: torch.Tensor) -> bool:
    """An fp32 value bf16 holds exactly has the low 16 bits of its pattern clear."""
    return x.dtype == torch.float32 and bool(((x.view(torch.int32) & 0xFFFF) == 0).all())


def test_rounding_is_bf16s_round_to_nearest_and_rounds_the_gradient_too():
    x = torch.tensor([1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -9, 3.14159, -1e-3], requires_grad=True)
    rounded = round_to(x)
    assert rounded.dtype == torch.float32 and _is_bf16_exact(rounded)
    assert torch.equal(rounded, x.detach().to(torch.bfloat16).float())
    assert rounded[1] == 1.0 and rounded[2] == 1 + 2 ** -7  # ties go to even: not truncation
    assert torch.equal(round_to(rounded), rounded)
    grad = torch.tensor([0.1, 0.2, 0.3, 0.4, 1 + 2 ** -10])
    rounded.backward(grad)
    assert _is_bf16_exact(x.grad) and torch.equal(x.grad, grad.to(torch.bfloat16).float())


def test_matrix_products_round_inputs_and_output_and_nothing_else_is_touched():
    torch.manual_seed(0)
    x, w, b = torch.randn(3, 5), torch.randn(4, 5), torch.randn(4)
    with Rounding():
        out = F.linear(x, w, b)
        product = x @ w.T
        summed = x + 1e-4  # not a matrix product: full fp32
        counts = torch.ones(2, 2, dtype=torch.long) @ torch.ones(2, 2, dtype=torch.long)  # not floats
    expected = F.linear(round_to(x), round_to(w), round_to(b))
    assert torch.equal(out, round_to(expected)) and _is_bf16_exact(out)
    assert torch.equal(product, round_to(round_to(x) @ round_to(w).T))
    assert not _is_bf16_exact(summed) and torch.equal(summed, x + 1e-4)
    assert counts.dtype == torch.long and torch.equal(counts, torch.full((2, 2), 2))
    assert not _is_bf16_exact(F.linear(x, w, b))  # outside the context: plain fp32


def test_fp16_rounding_keeps_fp16s_precision_and_its_range():
    """fp16 has 3 more mantissa bits than bf16 and far less range: what loss scaling is for."""
    x = torch.tensor([1 + 2 ** -10, 1 + 2 ** -12, 70000.0, 1e-8], requires_grad=True)
    rounded = round_to(x, torch.float16)
    assert rounded[0] == 1 + 2 ** -10 and rounded[1] == 1.0  # 10 mantissa bits
    assert torch.isinf(rounded[2]) and rounded[3] == 0  # above 65504: inf; below its subnormals: 0
    rounded[:2].sum().backward()
    assert torch.equal(x.grad, torch.tensor([1.0, 1.0, 0.0, 0.0]))
    with Rounding(torch.float16):
        product = F.linear(torch.full((1, 2), 300.0), torch.full((1, 2), 300.0))
    assert torch.isinf(product).all()  # 180000 overflows fp16, as it would on a T4


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_tiny_models_gradients_come_nearer_autocasts_than_fp32s(dtype):
    """What the Trainer's rounded precisions rest on: the same batch's gradients, in fp32 with
    the rounding, lie nearer those of autocast in that type than plain fp32's do. (fp16 autocast
    runs on this CPU, only slowly: the reference the stand-in is checked against.) The bar is
    0.8 of fp32's distance: the rounding leaves autocast's half-precision element-wise ops out,
    which weigh more against fp16's finer rounding (0.62x for bf16, 0.71x for fp16 here)."""
    torch.manual_seed(0)
    model = new_model("tiny")
    stream = shapeworld_stream("ground", model.codec, multi_object_world(), examples_per_scene=2)
    batch = Processor.for_model(model).training_batch([stream[i] for i in range(8)])

    def gradients(context) -> dict[str, torch.Tensor]:
        model.zero_grad()
        with context:
            loss = model(**batch).loss
            loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    plain = gradients(contextlib.nullcontext())
    rounded = gradients(Rounding(dtype))
    autocast = gradients(torch.autocast("cpu", dtype=dtype))

    def median_distance(grads: dict) -> float:
        return torch.tensor([((grads[n] - autocast[n]).norm() / autocast[n].norm()).item() for n in autocast
                             if autocast[n].norm() > 0]).median().item()

    assert plain.keys() == rounded.keys() == autocast.keys()
    assert median_distance(rounded) < 0.8 * median_distance(plain)
