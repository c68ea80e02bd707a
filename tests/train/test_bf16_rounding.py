import contextlib

import torch
import torch.nn.functional as F

from vlmkit.text.processor import Processor
from vlmkit.train.bf16_rounding import BF16Rounding, round_to_bf16
from vlmkit.train.profiles import new_model
from vlmkit.train.streams import multi_object_world, shapeworld_stream


def _is_bf16_exact(x: torch.Tensor) -> bool:
    """An fp32 value bf16 holds exactly has the low 16 bits of its pattern clear."""
    return x.dtype == torch.float32 and bool(((x.view(torch.int32) & 0xFFFF) == 0).all())


def test_rounding_is_bf16s_round_to_nearest_and_rounds_the_gradient_too():
    x = torch.tensor([1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -9, 3.14159, -1e-3], requires_grad=True)
    rounded = round_to_bf16(x)
    assert rounded.dtype == torch.float32 and _is_bf16_exact(rounded)
    assert torch.equal(rounded, x.detach().to(torch.bfloat16).float())
    assert rounded[1] == 1.0 and rounded[2] == 1 + 2 ** -7  # ties go to even: not truncation
    assert torch.equal(round_to_bf16(rounded), rounded)
    grad = torch.tensor([0.1, 0.2, 0.3, 0.4, 1 + 2 ** -10])
    rounded.backward(grad)
    assert _is_bf16_exact(x.grad) and torch.equal(x.grad, grad.to(torch.bfloat16).float())


def test_matrix_products_round_inputs_and_output_and_nothing_else_is_touched():
    torch.manual_seed(0)
    x, w, b = torch.randn(3, 5), torch.randn(4, 5), torch.randn(4)
    with BF16Rounding():
        out = F.linear(x, w, b)
        product = x @ w.T
        summed = x + 1e-4  # not a matrix product: full fp32
        counts = torch.ones(2, 2, dtype=torch.long) @ torch.ones(2, 2, dtype=torch.long)  # not floats
    expected = F.linear(round_to_bf16(x), round_to_bf16(w), round_to_bf16(b))
    assert torch.equal(out, round_to_bf16(expected)) and _is_bf16_exact(out)
    assert torch.equal(product, round_to_bf16(round_to_bf16(x) @ round_to_bf16(w).T))
    assert not _is_bf16_exact(summed) and torch.equal(summed, x + 1e-4)
    assert counts.dtype == torch.long and torch.equal(counts, torch.full((2, 2), 2))
    assert not _is_bf16_exact(F.linear(x, w, b))  # outside the context: plain fp32


def test_a_tiny_models_gradients_come_nearer_bf16_autocasts_than_fp32s():
    """What the Trainer's "bf16-rounded" rests on: the same batch's gradients, in fp32 with
    the rounding, lie nearer those of bf16 autocast than plain fp32's do."""
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
    rounded = gradients(BF16Rounding())
    autocast = gradients(torch.autocast("cpu", dtype=torch.bfloat16))

    def median_distance(grads: dict) -> float:
        return torch.tensor([((grads[n] - autocast[n]).norm() / autocast[n].norm()).item() for n in autocast
                             if autocast[n].norm() > 0]).median().item()

    assert plain.keys() == rounded.keys() == autocast.keys()
    assert median_distance(rounded) < 0.7 * median_distance(plain)
