"""ONNX export: onnxruntime's answers equal PyTorch's (vlmkit.inference.export)."""

import pytest
import torch

from vlmkit.inference.answers import predict
from vlmkit.inference.export import OnnxVLM, export_onnx
from vlmkit.train.streams import shapeworld_stream


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tests.conftest import MICRO
    from vlmkit.train.profiles import new_model

    torch.manual_seed(0)
    model = new_model("tiny", **MICRO).eval()
    with torch.no_grad():  # varied (not constant) greedy answers
        for p in model.parameters():
            p.normal_(0, 0.3)
    folder = export_onnx(model, tmp_path_factory.mktemp("onnx") / "export")
    return model, OnnxVLM(folder, threads=2)


@pytest.mark.parametrize("task, count, constrained", [("ground", 20, True), ("ground", 8, False), ("segment", 6, True)])
def test_onnx_answers_equal_pytorch_on_held_out_scenes(exported, task, count, constrained):
    model, onnx = exported
    examples = [shapeworld_stream(task, model.codec, split="val")[i] for i in range(count)]
    torch_answers = predict(model, examples, batch_size=8, constrained=constrained, progress=False)
    assert len(set(torch_answers)) > 1  # varied answers: the comparison has teeth
    assert onnx.predict(examples, constrained=constrained) == torch_answers
    assert onnx.predict([]) == predict(model, [], progress=False) == []  # nothing asked, nothing answered


def test_a_folder_without_an_export_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a vlmkit ONNX export"):
        OnnxVLM(tmp_path)


def test_lora_models_must_be_merged_first(tmp_path):
    from tests.conftest import MICRO
    from vlmkit.model.lora import add_lora
    from vlmkit.train.profiles import new_model

    model = new_model("tiny", **MICRO)
    add_lora(model, rank=2)
    with pytest.raises(ValueError, match="merge the LoRA adapters first"):
        export_onnx(model, tmp_path / "x")


def test_the_export_command_writes_graphs_that_answer(exported, tmp_path):
    from vlmkit.cli import main
    from vlmkit.storage.checkpoint import save_checkpoint

    model, _ = exported
    save_checkpoint(model, tmp_path / "ckpt")
    with pytest.raises(SystemExit) as done:
        main(["export", str(tmp_path / "ckpt"), str(tmp_path / "onnx")])
    assert done.value.code == 0
    assert {"vision.onnx", "language.onnx", "embeddings.npy", "vlmkit_onnx.json"} <= {p.name for p in (tmp_path / "onnx").iterdir()}
    example = shapeworld_stream("ground", model.codec, split="val")[0]
    assert OnnxVLM(tmp_path / "onnx").predict([example]) == predict(model, [example], progress=False)
