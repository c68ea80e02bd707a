import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, LogitsProcessorList, ViTConfig, ViTModel

from vlmkit.inference.answers import predict
from vlmkit.model import MiniVLM, VLMConfig, full_config
from vlmkit.model.vision import sincos_2d
from vlmkit.text.codecs import ParseFailure
from vlmkit.text.constrained import LocationGrammar
from vlmkit.text.processor import Processor
from vlmkit.text.tokenizer import load_pretrained_tokenizer
from vlmkit.train.profiles import tiny_tokenizer

from tests.conftest import MICRO


def _batch(model, stream, n=6, start=0):
    processor = Processor.for_model(model)
    examples = [stream[i] for i in range(start, start + n)]
    return examples, processor


def _spread_weights(model):
    """Random weights that give varied (not constant) greedy output."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


def test_shapes_flow_through_the_parts(micro_model, ground_stream):
    examples, processor = _batch(micro_model, ground_stream, 3)
    batch = processor.training_batch(examples)
    out = micro_model(**batch)
    grid = micro_model.vision.grid
    assert micro_model.vision(batch["pixel_values"]).shape == (3, grid * grid, 32)
    assert micro_model.num_image_tokens == (grid // micro_model.config.mp_pixel_shuffle) ** 2
    assert out.logits.shape[:2] == batch["input_ids"].shape
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)


def test_loss_only_on_answer_tokens(micro_model, ground_stream):
    examples, processor = _batch(micro_model, ground_stream, 2)
    batch = processor.training_batch(examples)
    answer_len = len(processor.tokenizer(examples[0].answer, add_special_tokens=False)["input_ids"]) + 1  # + eos
    assert (batch["labels"][0] != -100).sum() == answer_len
    # dynamic padding: as wide as the longest sequence in this batch, no wider
    lengths = batch["attention_mask"].sum(1)
    assert batch["input_ids"].shape[1] == lengths.max()


@pytest.mark.parametrize("after", [False, True])
def test_image_placeholders_sit_where_the_layout_says(after, ground_stream):
    from vlmkit.train.profiles import new_model

    model = new_model("tiny", **MICRO, image_after_prompt=after)
    examples, processor = _batch(model, ground_stream, 2)
    ids = processor.prompt_batch(examples)["input_ids"][1].tolist()
    ids = ids[ids.index(model.tokenizer.bos_token_id):]  # drop the left padding
    images = [i for i, t in enumerate(ids) if t == model.image_token_id]
    assert len(images) == model.num_image_tokens and images == list(range(images[0], images[0] + len(images)))
    assert (images[-1] == len(ids) - 1) if after else (images[0] == 1)  # right after bos, or last
    assert torch.isfinite(model(**processor.training_batch(examples)).loss)



def test_identical_images_are_encoded_once_with_the_same_logits_and_gradients(micro_model):
    from vlmkit.train.streams import shapeworld_stream

    stream = shapeworld_stream("ground", micro_model.codec, examples_per_scene=2)
    examples = [stream[i] for i in (0, 5, 1, 4)]  # two scenes, asked twice each, out of order
    assert np.array_equal(examples[0].image, examples[2].image) and np.array_equal(examples[1].image, examples[3].image)
    processor = Processor.for_model(micro_model)
    seen = []
    hook = micro_model.vision.register_forward_hook(lambda module, args, out: seen.append(len(args[0])))
    batch = processor.training_batch(examples)
    micro_model.zero_grad()
    together = micro_model(**batch)
    together.loss.backward()
    grads = [p.grad.clone() for p in micro_model.vision.parameters()]
    assert seen == [2]
    # reference: each example alone, its loss weighted by its share of the batch's answer tokens
    answer_tokens = (batch["labels"] != -100).sum()
    micro_model.zero_grad()
    for i, ex in enumerate(examples):
        alone = processor.training_batch([ex])
        out = micro_model(**alone)
        width = alone["input_ids"].shape[1]
        torch.testing.assert_close(together.logits[i, :width], out.logits[0], atol=1e-5, rtol=1e-5)
        (out.loss * (alone["labels"] != -100).sum() / answer_tokens).backward()
    hook.remove()
    assert seen[1:] == [1] * 4
    for together_grad, p in zip(grads, micro_model.vision.parameters()):
        torch.testing.assert_close(together_grad, p.grad, atol=1e-6, rtol=1e-4)


def test_images_are_encoded_in_chunks_only_without_gradients_with_the_same_features(micro_model):
    from vlmkit.model.vlm import CPU_INFERENCE_CHUNK

    torch.manual_seed(0)
    size = micro_model.vision.image_size
    pixels = torch.rand(CPU_INFERENCE_CHUNK * 2 + 3, 3, size, size)
    seen = []
    hook = micro_model.vision.register_forward_hook(lambda module, args, out: seen.append(len(args[0])))
    whole = micro_model.encode_images(pixels)
    assert whole.requires_grad and seen == [len(pixels)]  # training: one batch
    with torch.no_grad():
        chunked = micro_model.encode_images(pixels)
    hook.remove()
    assert seen[1:] == [CPU_INFERENCE_CHUNK, CPU_INFERENCE_CHUNK, 3]
    torch.testing.assert_close(chunked, whole.detach(), atol=1e-6, rtol=1e-5)  # in order, each image alone


def test_attention_implementation_is_set_on_both_parts_and_gives_the_same_logits(micro_model, ground_stream):
    """The tiny profile's eager attention is a speed choice: the same model under torch's
    fused kernel (sdpa) computes the same logits, so only the config field differs."""
    from vlmkit.train.profiles import new_model

    assert micro_model.config.attn_implementation == "eager"
    assert micro_model.vision.vit.config._attn_implementation == micro_model.lm.config._attn_implementation == "eager"
    sdpa = new_model("tiny", **MICRO, attn_implementation="sdpa")
    sdpa.load_state_dict(micro_model.state_dict())
    assert sdpa.vision.vit.config._attn_implementation == sdpa.lm.config._attn_implementation == "sdpa"
    examples, processor = _batch(micro_model, ground_stream, 4)
    batch = processor.training_batch(examples)
    torch.testing.assert_close(sdpa(**batch).logits, micro_model(**batch).logits, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="bogus"):
        new_model("tiny", **MICRO, attn_implementation="bogus")


def test_a_batch_without_its_image_placeholders_is_refused(micro_model, ground_stream):
    examples, processor = _batch(micro_model, ground_stream, 2)
    batch = processor.training_batch(examples)
    batch["input_ids"][0, batch["input_ids"][0] == micro_model.image_token_id] = micro_model.tokenizer.pad_token_id
    with pytest.raises(ValueError, match="placeholders"):
        micro_model(**batch)


def test_a_tokenizer_without_the_image_placeholder_is_named():
    """E.g. a checkpoint saved before vlmkit had placeholders: refused with a reason."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.WordLevel({"<pad>": 0, "<unk>": 1, "red": 2}, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", unk_token="<unk>")
    with pytest.raises(ValueError, match="no <image> placeholder"):
        Processor(tokenizer, image_size=64, image_tokens=16)


def test_greedy_with_kv_cache_equals_without(micro_model, ground_stream):
    """vlmkit's lean loop (preallocated cache) answers what Hugging Face's uncached generate does."""
    from vlmkit.model.decoding import supports_lean_decoding

    model = _spread_weights(micro_model).eval()
    assert supports_lean_decoding(model.lm)
    examples, processor = _batch(model, ground_stream, 4)
    batch = processor.prompt_batch(examples)
    cached = model.generate(**batch, max_new_tokens=12, use_cache=True)
    uncached = model.generate(**batch, max_new_tokens=12, use_cache=False)
    assert len(set(cached.flatten().tolist())) > 2  # a real sequence, not one repeated token
    assert torch.equal(cached, uncached)
    cached[cached == model.tokenizer.eos_token_id] = model.tokenizer.pad_token_id  # an ordinary tensor: writable
    assert model.generate(**batch, max_new_tokens=0).shape == (4, 0)  # nothing asked, nothing written


@pytest.mark.parametrize("heads, kv_heads", [(4, 4), (4, 2)])
def test_lean_decoding_equals_generate_with_grouped_heads_and_early_eos(heads, kv_heads, ground_stream):
    """SmolLM2 shares each key/value head among 3 query heads (GQA): the lean loop's grouping
    must match Hugging Face's; rows that stop early are padded after their eos the same way."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    from tests.conftest import MICRO
    from vlmkit.model.decoding import lean_decode
    from vlmkit.text.processor import Processor
    from vlmkit.train.profiles import new_model

    torch.manual_seed(0)
    model = new_model("tiny", **MICRO).eval()
    tok = model.tokenizer
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=heads,
                         num_key_value_heads=kv_heads, intermediate_size=64, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model.lm = AutoModelForCausalLM.from_config(config).eval()
    examples = [ground_stream[i] for i in range(6)]
    batch = Processor.for_model(model).prompt_batch(examples)
    embeds = model._embed(batch["pixel_values"], batch["input_ids"])
    free = model.lm.generate(inputs_embeds=embeds, attention_mask=batch["attention_mask"], max_new_tokens=10,
                             do_sample=False, eos_token_id=None, pad_token_id=tok.pad_token_id)
    stop = int(free[0, 3])  # a token the model does write: as "eos", some rows stop early
    reference = model.lm.generate(inputs_embeds=embeds, attention_mask=batch["attention_mask"], max_new_tokens=10,
                                  do_sample=False, eos_token_id=stop, pad_token_id=tok.pad_token_id)
    lean = lean_decode(model.lm, embeds, batch["attention_mask"], 10, stop, tok.pad_token_id)
    assert (reference == tok.pad_token_id).any() and len(set(reference.flatten().tolist())) > 3  # teeth
    assert torch.equal(lean, reference)


def test_batched_generation_equals_one_by_one(micro_model):
    from vlmkit.train.streams import shapeworld_stream

    model = _spread_weights(micro_model).eval()
    stream = shapeworld_stream("ground", model.codec)
    examples = [stream[i] for i in range(5)]
    assert len({len(e.prompt.split()) for e in examples}) > 1  # different lengths -> real left padding
    batched = predict(model, examples, batch_size=5, progress=False)
    single = [predict(model, [e], batch_size=1, progress=False)[0] for e in examples]
    assert batched == single


def test_constrained_decoding_never_emits_an_unparseable_box_or_polygon(micro_model, ground_stream):
    model = _spread_weights(micro_model).eval()
    examples, processor = _batch(model, ground_stream, 16)
    batch = processor.prompt_batch(examples)
    unconstrained = processor.decode(model.generate(**batch, max_new_tokens=8))
    assert any(not model.codec.parse_box(t, 64, 64).ok for t in unconstrained)  # the test has teeth
    parsers = {"box": model.codec.parse_box, "polygon": model.codec.parse_polygons,
               "box+polygon": model.codec.parse_located_outline, "point": model.codec.parse_point}
    for shape, max_new in (("box", 8), ("polygon", 20), ("box+polygon", 24), ("box+polygon", 11), ("point", 4)):
        grammar = LogitsProcessorList([LocationGrammar(model.tokenizer, model.codec, shape, max_new)])
        for seed in range(3):
            torch.manual_seed(seed)
            ids = model.generate(**batch, max_new_tokens=max_new, do_sample=True, temperature=2.0,
                                 logits_processor=grammar)
            for text in processor.decode(ids):
                result = parsers[shape](text, 64, 64)
                assert result.ok, (shape, text, result)


def _grammar_mask_row_by_row(grammar, tokens: list[int], length: int, vocab: int) -> torch.Tensor:
    """The grammar's rules written out for one row, plainly: the specification that the
    batched mask of ``LocationGrammar.__call__`` must equal."""
    from vlmkit.text.constrained import _RowState

    state, mask = _RowState(), torch.zeros(vocab, dtype=torch.bool)
    for token in tokens:
        state.read(token, grammar)
    loc = grammar.loc_ids
    if state.done:
        return ~mask
    if grammar.shape == "point":
        mask[loc if len(state.box) < 2 else grammar.eos_id] = True
    elif grammar.shape == "box" or (grammar.shape == "box+polygon" and len(state.box) < 4):
        box = state.box
        if len(box) >= 4:
            mask[grammar.eos_id] = True
        elif len(box) < 2:
            mask[loc[:-1]] = True  # the far corner needs a larger bin
        else:
            mask[loc[box[len(box) - 2] + 1:]] = True
    elif len(state.part) % 2:  # a vertex's y: distinct from earlier vertices until there are 3
        mask[loc] = True
        if len(state.vertices) < 3:
            for x, y in state.vertices:
                if x == state.part[-1]:
                    mask[loc[y]] = False
    else:
        remaining, closable = grammar.max_new_tokens - length, len(state.vertices) >= 3
        if closable:
            mask[grammar.eos_id] = True
            mask[grammar.sep_id] = remaining >= 8
        mask[loc] = remaining >= 3 if closable else True
    return mask


def test_the_batched_grammar_mask_equals_its_rules_row_by_row(micro_model, ground_stream):
    model = _spread_weights(micro_model).eval()
    examples, processor = _batch(model, ground_stream, 16)
    batch = processor.prompt_batch(examples)
    vocab = len(model.tokenizer)
    bins_allowed = {}  # shape -> how many location bins the rows were allowed, step by step
    for shape, max_new in (("box", 8), ("polygon", 20), ("box+polygon", 24), ("point", 4)):
        torch.manual_seed(0)
        ids = model.generate(**batch, max_new_tokens=max_new, do_sample=True, temperature=2.0,
                             logits_processor=LogitsProcessorList([LocationGrammar(model.tokenizer, model.codec,
                                                                                    shape, max_new)]))
        grammar = LocationGrammar(model.tokenizer, model.codec, shape, max_new)
        for length in range(ids.shape[1]):  # one call per step, as in decoding
            masked = grammar(ids[:, :length], torch.zeros(len(ids), vocab)) == 0
            for row in range(len(ids)):
                expected = _grammar_mask_row_by_row(grammar, ids[row, :length].tolist(), length, vocab)
                assert torch.equal(masked[row], expected), (shape, row, ids[row, :length].tolist())
                bins_allowed.setdefault(shape, set()).add(int(expected[grammar.loc_ids].sum()))
    n = model.codec.num_bins
    assert {0, n - 1} <= bins_allowed["box"] and len(bins_allowed["box"]) > 3  # x2 > x1 leaves fewer
    assert any(0 < k < n for k in bins_allowed["polygon"])  # a vertex's y that would repeat one is banned


def test_constrained_decoding_rejects_formats_it_cannot_enforce(micro_model):
    from vlmkit.text.codecs import Codec

    with pytest.raises(ValueError, match="'loc' format only"):
        LocationGrammar(micro_model.tokenizer, Codec("tags", 16), "box", 8)
    with pytest.raises(ValueError, match="max_new_tokens"):
        LocationGrammar(micro_model.tokenizer, micro_model.codec, "polygon", 5)
    with pytest.raises(ValueError, match="max_new_tokens >= 11"):
        LocationGrammar(micro_model.tokenizer, micro_model.codec, "box+polygon", 10)
    with pytest.raises(ValueError, match="shape must be one of"):
        LocationGrammar(micro_model.tokenizer, micro_model.codec, "outline", 10)


def test_unparsed_answers_are_reported_not_hidden():
    from vlmkit.text.codecs import Codec

    assert Codec("loc", 16).parse_box("<loc_1> <loc_2>", 64, 64).failure is ParseFailure.WRONG_COUNT


def test_sincos_positions_fill_the_vit_table(micro_model):
    table = micro_model.vision.vit.embeddings.position_embeddings[0, 1:]
    assert torch.allclose(table, sincos_2d(micro_model.vision.grid, 32))
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_2d(4, 30)


def test_pixel_shuffle_reduces_image_tokens():
    from vlmkit.train.profiles import new_model

    model = new_model("tiny", vit_hidden=32, vit_layers=1, vit_heads=2, lm_hidden=32, lm_layers=1, lm_heads=2,
                      vit_patch_size=8, mp_pixel_shuffle=2)
    assert model.vision.grid == 8 and model.num_image_tokens == 16
    with pytest.raises(ValueError, match="must divide"):
        new_model("tiny", vit_hidden=32, vit_layers=1, vit_heads=2, lm_hidden=32, lm_layers=1, lm_heads=2,
                  mp_pixel_shuffle=3)


def test_projector_output_norm_puts_image_tokens_at_unit_rms():
    from vlmkit.train.profiles import new_model

    pixels = torch.randn(2, 3, 64, 64)
    plain, normed = (new_model("tiny", **MICRO, mp_output_norm=flag) for flag in (False, True))
    rms = normed.projector(normed.vision(pixels)).pow(2).mean(-1).sqrt()
    assert torch.allclose(rms, torch.ones_like(rms), atol=1e-3)
    assert not isinstance(plain.projector.mlp[-1], torch.nn.RMSNorm)


def test_projector_norm_runs_in_fp32_under_bf16_autocast():
    import warnings

    from vlmkit.train.profiles import new_model

    projector = new_model("tiny", **MICRO, mp_output_norm=True).projector
    features = torch.randn(2, projector.grid**2, MICRO["vit_hidden"])
    with torch.no_grad():
        before_norm = projector.mlp[:-1](projector.fold(features))
        with torch.autocast("cpu", dtype=torch.bfloat16), warnings.catch_warnings():
            warnings.simplefilter("error")  # torch warns when a bf16 input meets the fp32 weight
            mixed = projector(features)
            mixed_before_norm = projector.mlp[:-1](projector.fold(features))
    assert mixed_before_norm.dtype == torch.bfloat16 and mixed.dtype == torch.float32
    assert torch.allclose(mixed, projector.mlp[-1](mixed_before_norm.float()))  # the norm itself exact in fp32
    assert torch.allclose(mixed, projector.mlp[-1](before_norm), atol=0.05)  # bf16 products: ~1% off


def test_projector_is_a_linear_map_with_one_layer_and_an_mlp_of_the_given_width_with_two():
    from vlmkit.train.profiles import new_model

    linear = new_model("tiny", **MICRO, mp_layers=1, mp_skip=False, mp_output_norm=False).projector
    x, y = torch.randn(2, 1, linear.grid**2, MICRO["vit_hidden"])  # vision features of one image
    with torch.no_grad():
        bias = linear(torch.zeros_like(x))
        assert torch.allclose(linear(2 * x + y) - bias, 2 * (linear(x) - bias) + (linear(y) - bias), atol=1e-5)
    mlp = new_model("tiny", **MICRO, mp_layers=2, mp_skip=False, mp_hidden=40).projector
    assert [m.out_features for m in mlp.mlp if isinstance(m, torch.nn.Linear)] == [40, mlp.mlp[2].out_features]
    with pytest.raises(ValueError, match="1 \\(linear\\) or 2 \\(MLP\\) layers, not 3"):
        new_model("tiny", **MICRO, mp_layers=3)


def test_projector_skip_adds_a_linear_path_to_the_mlp():
    from vlmkit.train.profiles import new_model

    projector = new_model("tiny", **MICRO, mp_skip=True, mp_output_norm=False).projector
    skip = projector.mlp[0]
    x = torch.randn(2, projector.grid**2, MICRO["vit_hidden"])
    folded = projector.fold(x)
    with torch.no_grad():
        assert torch.allclose(projector(x), skip.mlp(folded) + skip.linear(folded), atol=1e-6)
        skip.mlp[2].weight.zero_()
        skip.mlp[2].bias.zero_()  # the MLP now adds nothing: what is left is the linear path
        assert torch.allclose(projector(x), folded @ skip.linear.weight.T, atol=1e-6)
    with pytest.raises(ValueError, match="needs layers=2"):
        new_model("tiny", **MICRO, mp_layers=1, mp_skip=True)


def test_full_profile_loads_pretrained_parts_through_from_pretrained(tmp_path):
    """The full profile's code path, offline: tiny random models of the same classes, saved
    and loaded by from_pretrained exactly as the Hub checkpoints would be."""
    vit_dir, lm_dir = tmp_path / "vit", tmp_path / "lm"
    ViTModel(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64), add_pooling_layer=False).save_pretrained(vit_dir)
    word_tok = tiny_tokenizer(16)
    word_tok.save_pretrained(lm_dir)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(word_tok) - 17,  # smaller than the tokenizer: must resize
                                 hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64)).save_pretrained(lm_dir)
    config = full_config(vit_pretrained=str(vit_dir), lm_pretrained=str(lm_dir), vit_image_size=32,
                         mp_pixel_shuffle=2, codec_bins=16)
    tokenizer = load_pretrained_tokenizer(str(lm_dir), config_codec(config))
    model = MiniVLM(config, tokenizer)
    assert model.lm.get_input_embeddings().num_embeddings == len(tokenizer)  # embeddings resized to the tokenizer
    assert model.num_image_tokens == 4
    assert model.config.vit_hf_config["hidden_size"] == 32 and model.config.lm_hf_config["model_type"] == "llama"
    assert model.config.lm_hf_config["hidden_size"] == 32 and model.config.lm_hf_config["num_hidden_layers"] == 1
    assert config.vit_hf_config is None and config.lm_hf_config is None  # the given config is left as it was


def config_codec(config: VLMConfig):
    from vlmkit.text.codecs import Codec

    return Codec(config.codec_format, config.codec_bins)


def test_conv_stem_feeds_the_vit_and_rejects_pretrained_vits(micro_model):
    assert micro_model.vision.stem is not None
    assert micro_model.vision.vit.config.num_channels == micro_model.config.vit_conv_stem
    with pytest.raises(ValueError, match="pretrained ViT reads RGB"):
        MiniVLM(full_config(vit_conv_stem=8), micro_model.tokenizer)


def test_soft_location_targets_reward_near_misses_over_far_ones():
    from vlmkit.train.profiles import new_model

    hard, soft = (new_model("tiny", **MICRO, codec_label_sigma=s) for s in (0.0, 1.0))
    logits = torch.zeros(1, 1, len(hard.tokenizer))
    target = hard.loc_token_ids[8].view(1, 1)
    word = torch.tensor([[hard.tokenizer.convert_tokens_to_ids("red")]])

    def loss(model, guess_bin, target):
        scores = logits.clone()
        scores[0, 0, model.loc_token_ids[guess_bin]] = 5.0
        return model._answer_loss(scores, target).item()

    # one-hot cross-entropy cannot tell a near miss from a far one; the Gaussian target can
    assert loss(hard, 9, target) == pytest.approx(loss(hard, 15, target))
    assert loss(soft, 9, target) < loss(soft, 11, target) < loss(soft, 15, target)
    assert loss(soft, 8, target) < loss(soft, 9, target)  # the true bin is still best
    # the loss is a KL divergence: predicting exactly the Gaussian target costs nothing
    gaussian = torch.distributions.Normal(8.0, 1.0).log_prob(torch.arange(16.0)).log_softmax(-1)
    exact = torch.full((1, 1, len(soft.tokenizer)), -1e9)
    exact[0, 0, soft.loc_token_ids] = gaussian
    assert soft._answer_loss(exact, target).item() == pytest.approx(0.0, abs=1e-5)
    # tokens that are not locations keep plain cross-entropy
    assert loss(soft, 3, word) == pytest.approx(loss(hard, 3, word))


def test_building_a_model_leaves_its_config_as_it_was():
    from vlmkit.model import MiniVLM
    from vlmkit.model.config import tiny_config
    from vlmkit.train.profiles import tiny_tokenizer

    config = tiny_config(**MICRO)
    before = config.to_dict()
    model = MiniVLM(config, tiny_tokenizer(16))
    assert config.to_dict() == before  # the parts' HF configs go into the model's own copy
    assert model.config.lm_hf_config["hidden_size"] == 32 and model.config.vit_hf_config["hidden_size"] == 32


def test_a_copy_has_the_same_weights_and_trains_apart_from_the_original(micro_model):
    import torch

    twin = micro_model.copy()
    assert twin is not micro_model and twin.config == micro_model.config and twin.tokenizer is micro_model.tokenizer
    assert all(torch.equal(a, b) for a, b in zip(micro_model.state_dict().values(), twin.state_dict().values()))
    with torch.no_grad():
        next(twin.parameters()).add_(1.0)
    assert not torch.equal(next(twin.parameters()), next(micro_model.parameters()))
