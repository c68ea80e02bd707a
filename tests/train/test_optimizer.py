import pytest
import torch

from vlmkit.train.optimizer import MuonWithAdamW, build_optimizer, hidden_matrices
from vlmkit.train.profiles import new_model

from tests.conftest import MICRO


def _model(**config):
    torch.manual_seed(0)
    return new_model("tiny", **{**MICRO, **config})


def test_muon_takes_the_hidden_matrices_and_adamw_the_embeddings_heads_and_vectors():
    model = _model(box_head=True)
    names = {id(p): n for n, p in model.named_parameters()}
    muon = {names[i] for i in hidden_matrices(model)}
    assert "lm.model.layers.0.self_attn.q_proj.weight" in muon
    assert "vision.vit.layers.0.mlp.fc1.weight" in muon
    assert any(n.startswith("projector.") for n in muon)
    assert not any("embed_tokens" in n or n.startswith("box_head.") or n.endswith(".bias") for n in muon)
    assert all(dict(model.named_parameters())[n].ndim == 2 for n in muon)


def test_the_schedule_sets_the_rate_both_optimizers_step_with():
    model = _model()
    groups = [{"params": [p for p in model.parameters()], "lr": 1e-3, "weight_decay": 0.0}]
    optimizer = build_optimizer(groups, model, "muon", lr=1e-3, muon_lr_scale=2.0)
    assert [(g["muon"], g["lr"]) for g in optimizer.param_groups] == [(True, 2e-3), (False, 1e-3)]
    for group in optimizer.param_groups:
        group["lr"] = 0.0  # as a schedule's first warm-up step does
    before = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))
    # a state reloaded (as accelerate's prepare and a resume do) keeps groups and parts one
    optimizer.load_state_dict(optimizer.state_dict())
    for group in optimizer.param_groups:
        group["lr"] = 1e-2
    optimizer.step()
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters()) if p.ndim == 2)


def test_unknown_optimizers_and_foreign_states_are_refused():
    model = _model()
    groups = [{"params": list(model.parameters()), "lr": 1e-3, "weight_decay": 0.0}]
    with pytest.raises(ValueError, match=r"optimizer='sgd': choose one of \('adamw', 'muon'\)"):
        build_optimizer(groups, model, "sgd", lr=1e-3)
    adamw = build_optimizer(groups, model, "adamw", lr=1e-3)
    muon = build_optimizer([dict(g) for g in groups], model, "muon", lr=1e-3)
    with pytest.raises(ValueError, match="an AdamW run's state cannot resume a Muon run"):
        muon.load_state_dict(adamw.state_dict())
    with pytest.raises(ValueError, match="a 'muon' key"):
        MuonWithAdamW(groups, lr=1e-3)


def test_muon_on_a_torch_without_it_says_what_to_install(monkeypatch):
    model = _model()
    monkeypatch.delattr(torch.optim, "Muon")
    groups = [{"params": list(model.parameters()), "lr": 1e-3, "weight_decay": 0.0}]
    with pytest.raises(RuntimeError, match=r"needs torch.optim.Muon.*constraints.txt.*optimizer='adamw'"):
        build_optimizer(groups, model, "muon", lr=1e-3)
