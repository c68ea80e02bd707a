"""Attention maps from an answer token back to the image (vlmkit.evaluation.attention)."""

import numpy as np
import pytest

from vlmkit.evaluation.attention import answer_attention
from vlmkit.train.streams import shapeworld_stream


def test_attention_rows_have_the_right_shape_and_sum_to_one(micro_model):
    model = micro_model.eval()
    example = shapeworld_stream("ground", model.codec)[0]
    layers, heads = model.lm.config.num_hidden_layers, model.lm.config.num_attention_heads
    grid = int(model.num_image_tokens ** 0.5)
    first = answer_attention(model, example, example.answer, token_index=0)
    assert first.image.shape == (layers, heads, grid, grid)
    assert first.token == example.answer.split()[0]  # x1's location token
    assert np.allclose(first.row.sum(-1), 1.0, atol=1e-5)  # softmax over every attended position
    assert np.allclose(first.image_share, first.image.sum(axis=(2, 3)))
    assert np.all(first.image_share > 0) and np.all(first.image_share <= 1 + 1e-6)
    last = answer_attention(model, example, example.answer, token_index=3)
    assert last.row.shape[-1] == first.row.shape[-1] + 3  # three more answer tokens attended
    assert last.token == example.answer.split()[3]
    assert first.mean_map().shape == (grid, grid)
    assert np.allclose(first.mean_map(layer=-1), first.image[-1].mean(0))  # the last layer, counted from the end
    assert np.allclose(first.mean_map(layer=0), first.image[0].mean(0))


def test_the_model_is_left_as_it_was(micro_model):
    model = micro_model.train()
    implementation = model.lm.config._attn_implementation
    example = shapeworld_stream("ground", model.codec)[0]
    answer_attention(model, example, example.answer)
    assert model.training and model.lm.config._attn_implementation == implementation
    with pytest.raises(ValueError, match="outside the answer's 5 tokens"):
        answer_attention(model, example, example.answer, token_index=5)


def test_attention_overlay_draws_the_map_over_the_image(micro_model):
    import matplotlib.pyplot as plt

    from vlmkit.evaluation.viz import attention_overlay

    example = shapeworld_stream("ground", micro_model.codec)[0]
    heat = answer_attention(micro_model, example, example.answer).mean_map()
    fig, ax = plt.subplots()
    attention_overlay(ax, example.image, heat, "x1", true_box=example.row["box"])
    images = ax.get_images()
    assert len(images) == 2 and images[1].get_array().shape == heat.shape
    assert images[1].get_extent() == images[0].get_extent()  # the map covers the whole image
    plt.close(fig)


def test_share_on_box_counts_the_cells_whose_centres_are_inside():
    from vlmkit.evaluation.attention import share_on_box

    heat = np.zeros((4, 4))
    heat[0, 0], heat[3, 3] = 3.0, 1.0  # cells of 16 px on a 64 px image: centres at 8, 24, 40, 56
    assert share_on_box(heat, (0, 0, 20, 20), 64, 64) == 0.75
    assert share_on_box(heat, (30, 30, 64, 64), 64, 64) == 0.25
    assert share_on_box(heat, (20, 20, 30, 30), 64, 64) == 0.0
    assert share_on_box(np.zeros((4, 4)), (0, 0, 64, 64), 64, 64) == 0.0


def test_mean_share_on_true_box_averages_the_chosen_queries(micro_model):
    from vlmkit.evaluation.attention import mean_share_on_true_box
    from vlmkit.evaluation.evaluate import evaluate_grounding
    from vlmkit.train.profiles import load_profile

    rows = load_profile("tiny", announce=False).evaluation_rows("ground", "val", count=3)
    scored = evaluate_grounding(micro_model, rows, progress=False)
    one = mean_share_on_true_box(micro_model, scored, [0])
    both = mean_share_on_true_box(micro_model, scored, [0, 1])
    second = mean_share_on_true_box(micro_model, scored, [1])
    assert 0.0 <= one <= 1.0 and both == pytest.approx((one + second) / 2)
    with pytest.raises(ValueError, match="no queries"):
        mean_share_on_true_box(micro_model, scored, [])
