"""The logic of benchmarks/ and scripts/: plotting runs, parsing variants (the probes they run: tests/evaluation/test_probes.py)."""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vlmkit.train.streams import curriculum_stream

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    """A research script of benchmarks/ or a user tool of scripts/, loaded as a module."""
    path = next(p for p in (ROOT / "benchmarks" / f"{name}.py", ROOT / "scripts" / f"{name}.py") if p.exists())
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _results(path: Path, steps: list[int], minutes: list[float], colour: bool = False) -> Path:
    curve = [{"step": s, "train_minutes": m, "acc@0.5": s / 20000} for s, m in zip(steps, minutes)]
    if colour:
        curve = [{**point, "colour_only": point["acc@0.5"] / 2} for point in curve]
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"curve": curve, "final": {"acc@0.5": curve[-1]["acc@0.5"]}}))
    return path


@pytest.mark.parametrize("x, expected", [("step", [[2000, 4000], [2000, 4000]]), ("minutes", [[5, 10], [3, 6]])])
def test_learning_curves_are_drawn_against_steps_or_minutes(tmp_path, monkeypatch, x, expected):
    plot = _script("plot_learning_curves")
    slow = _results(tmp_path / "slow" / "results.json", [2000, 4000], [5, 10])
    fast = _results(tmp_path / "fast" / "results.json", [2000, 4000], [3, 6], colour=True)
    out = tmp_path / "curves.png"
    monkeypatch.setattr("sys.argv", ["plot", str(slow), str(fast), "--x", x, "--out", str(out)])
    plot.main()
    lines = plot.plt.gcf().axes[0].lines
    runs = [line for line in lines if "final" in line.get_label()]
    colour = [line for line in lines if "colour-only" in line.get_label()]
    plot.plt.close("all")
    assert [list(line.get_xdata()) for line in runs] == expected
    assert [line.get_label() for line in runs] == ["slow (final 0.200)", "fast (final 0.200)"]
    # only the run that recorded it has a colour-only curve, drawn in its own colour
    assert [line.get_label() for line in colour] == ["fast: colour-only expressions"]
    assert list(colour[0].get_ydata()) == [0.05, 0.1] and colour[0].get_color() == runs[1].get_color()
    assert out.stat().st_size > 0


def test_a_stopped_run_is_drawn_with_the_step_it_stopped_at(tmp_path, monkeypatch):
    plot = _script("plot_learning_curves")
    stopped = tmp_path / "run_stopped.json"  # as benchmarks/runs/*_stopped.json: a printed curve, no final
    stopped.write_text(json.dumps({"curve": [{"step": 1000, "train_minutes": 4, "acc@0.5": 0.3},
                                             {"step": 2000, "train_minutes": 8, "acc@0.5": 0.5}]}))
    monkeypatch.setattr("sys.argv", ["plot", str(stopped), "--labels", "noise", "--x", "step",
                                     "--out", str(tmp_path / "curves.png")])
    plot.main()
    labels = [line.get_label() for line in plot.plt.gcf().axes[0].lines]
    plot.plt.close("all")
    assert "noise (stopped at step 2000)" in labels


def test_a_missing_results_file_names_the_path_and_how_to_make_it(tmp_path, monkeypatch):
    plot = _script("plot_learning_curves")
    monkeypatch.setattr("sys.argv", ["plot", str(tmp_path / "nowhere" / "results.json")])
    with pytest.raises(SystemExit, match="no results file at .*nowhere.*learning_benchmark.py --out"):
        plot.main()


def test_the_learning_benchmark_trains_in_the_precision_it_is_given(tmp_path, monkeypatch, capsys):
    """``--mixed-precision`` reaches both stages' recipes (it once collided with the recipe's own
    field and raised before training); the recipe's ``scenes`` reaches the grounding stream."""
    bench = _script("learning_benchmark")
    streams = []
    monkeypatch.setattr(bench, "curriculum_stream", lambda *a, **k: streams.append(k) or curriculum_stream(*a, **k))
    monkeypatch.setattr("sys.argv", ["bench", "--mixed-precision", "no", "--set", "steps=2", "eval_size=2",
                                     "attribute_pair_steps=1", "first_token_steps=1", "scenes=3", "--caption-set",
                                     "steps=2", "--eval-every", "2", "--out", str(tmp_path)])
    bench.main()
    assert [k["scenes"] for k in streams] == [3]
    bench.plt.close("all")
    out = capsys.readouterr().out
    assert "mixed_precision='no'" in out.splitlines()[0]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["args"]["mixed_precision"] == "no" and [point["step"] for point in results["curve"]] == [2]
    # the captions are scored for content at the end of captioning (every --caption-eval-every steps)
    assert [point["step"] for point in results["caption_curve"]] == [2]
    assert 0 <= results["caption_curve"][0]["object_f1"] <= 1 and "caption step     2: object F1" in out


def test_the_learning_benchmark_grounds_an_earlier_runs_captioner(tmp_path, monkeypatch, capsys):
    """``--caption-checkpoint``: grounding starts from that captioner, scored once at its own step,
    and no captioning is trained; with ``--config`` (which could not apply to it) it refuses."""
    bench = _script("learning_benchmark")
    grounding = ["--set", "steps=2", "eval_size=2", "attribute_pair_steps=1", "first_token_steps=1",
                 "--eval-every", "2"]
    monkeypatch.setattr("sys.argv", ["bench", "--caption-set", "steps=3", *grounding, "--out", str(tmp_path / "a")])
    bench.main()
    monkeypatch.setattr("sys.argv", ["bench", "--caption-checkpoint", str(tmp_path / "a" / "caption"), *grounding,
                                     "--out", str(tmp_path / "b")])
    bench.main()
    bench.plt.close("all")
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert [point["step"] for point in results["caption_curve"]] == [3]
    assert [point["step"] for point in results["curve"]] == [2] and results["caption_minutes"] == 0
    assert not (tmp_path / "b" / "caption").exists()
    assert "captioning: 3 steps, trained earlier" in capsys.readouterr().out
    monkeypatch.setattr("sys.argv", ["bench", "--caption-checkpoint", str(tmp_path / "a" / "caption"),
                                     "--config", "lm_heads=4"])
    with pytest.raises(SystemExit):
        bench.main()
    assert "--caption-set and --config would not apply" in capsys.readouterr().err


def test_the_tiny_series_check_trains_each_stage_from_the_last_and_counts_the_examples(tmp_path, monkeypatch,
                                                                                      capsys):
    """At CI sizes, in fp32 (not the series' recipe, so each stage saves to scratch/): every stage
    trains its steps, each starts from the one before, and the series' examples are counted."""
    check = _script("tiny_gpu_check")
    starts = []
    train_stage = check.train_stage
    monkeypatch.setattr(check, "train_stage", lambda stage, profile, recipe, start=None:
                        starts.append(None if start is None else start.num_parameters()["total"])
                        or train_stage(stage, profile, recipe, start=start))
    monkeypatch.setenv("VLMKIT_SMOKE", "1")
    monkeypatch.setenv(check.CHECKPOINT_ENV, str(tmp_path / "elsewhere"))  # the script moves it: put it back after
    monkeypatch.setattr("sys.argv", ["check", "--precision", "no", "--out", str(tmp_path / "r.json")])
    check.main()
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["precision"] == "no" and list(result["stages"]) == list(check.SERIES_STAGES)
    assert all(record["train_steps"] == 20 for record in result["stages"].values())
    assert result["examples"] == 4 * 20 * 32
    assert starts[0] is None and all(starts[1:])  # a new model, then each stage's predecessor
    assert 0 <= result["stages"]["02_grounding"]["metrics"]["acc@0.5"] <= 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("machine: CPU") and "series: 2,560 training examples" in out


def test_the_tiny_series_check_refuses_fp16_on_a_cpu(monkeypatch):
    check = _script("tiny_gpu_check")
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr("sys.argv", ["check", "--precision", "fp16"])
    with pytest.raises(ValueError, match="'fp16' needs a GPU"):
        check.main()


def test_speed_variants_are_parsed_into_typed_config_overrides():
    speed = _script("training_speed")
    assert speed.parse_overrides("lm_heads=8,vit_layers=2") == {"lm_heads": 8, "vit_layers": 2}
    assert speed.parse_overrides("codec_label_sigma=1.5,mp_skip=false,attn_implementation=sdpa") == \
        {"codec_label_sigma": 1.5, "mp_skip": False, "attn_implementation": "sdpa"}
    for malformed in ("lm_heads", "=8", "lm_heads=8,vit_layers"):
        with pytest.raises(ValueError, match="an assignment is key=value"):
            speed.parse_overrides(malformed)


def test_padding_to_the_tutorials_length_adds_only_ignored_positions():
    speed = _script("training_speed")
    import torch

    batch = {"pixel_values": torch.zeros(2, 3, 8, 8), "input_ids": torch.tensor([[5, 6, 7], [5, 6, 0]]),
             "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]]), "labels": torch.tensor([[-100, 6, 7], [-100, 6, -100]])}
    padded = speed.padded_to(batch, 6, pad_id=0)
    assert padded["input_ids"].tolist() == [[5, 6, 7, 0, 0, 0], [5, 6, 0, 0, 0, 0]]
    assert padded["attention_mask"][:, 3:].sum() == 0 and (padded["labels"][:, 3:] == -100).all()
    assert padded["pixel_values"] is batch["pixel_values"]
    with pytest.raises(ValueError, match="3 tokens long, more than 2"):
        speed.padded_to(batch, 2, pad_id=0)


def test_the_optimizer_section_compares_each_adamw_with_the_trainers_and_times_muon(capsys):
    speed = _script("training_speed")
    from argparse import Namespace

    from vlmkit.train.profiles import new_model
    from vlmkit.train.streams import shapeworld_stream

    stream = shapeworld_stream("ground", new_model("tiny").codec)
    speed.time_optimizers(Namespace(batch_size=2, padding_steps=2, rounds=1), stream)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0].strip() for line in lines] == [*speed.ADAMW, speed.MUON]
    assert "weights after 2 steps identical to the for-loop's" in lines[0]  # the reference itself
    assert lines[-1].endswith("weights after 2 steps another update")
    assert all("optimizer step" in line and "whole step" in line for line in lines)


def test_the_precision_section_times_each_and_names_autos_choice(capsys):
    speed = _script("training_speed")
    from argparse import Namespace

    from vlmkit.train.profiles import new_model
    from vlmkit.train.streams import shapeworld_stream
    from vlmkit.train.trainer import resolve_mixed_precision

    stream = shapeworld_stream("ground", new_model("tiny").codec)
    speed.time_precision(Namespace(batch_size=2, padding_steps=1, rounds=2, warmup=1), stream)
    lines = capsys.readouterr().out.strip().splitlines()
    names = ["bf16 autocast", "fp16-rounded fp32", "fp32"]
    assert [line.split(":")[0].strip() for line in lines[:3]] == list(speed.PRECISIONS) == names
    assert all(len(line.split("rounds ")[1].rstrip(")").split()) == 2 for line in lines[:3])
    assert "the time of fp32 here: bf16 autocast " in lines[3] and "x, fp16-rounded fp32 " in lines[3]
    assert f"mixed_precision='auto' chooses {resolve_mixed_precision('auto')[0]}" in lines[3]


def test_the_compile_section_times_eager_against_compiled_and_the_warm_up(capsys):
    speed = _script("training_speed")
    from argparse import Namespace

    from vlmkit.train.profiles import new_model
    from vlmkit.train.streams import shapeworld_stream
    from vlmkit.train.trainer import resolve_mixed_precision

    stream = shapeworld_stream("ground", new_model("tiny").codec)
    # dynamo's "eager" backend: the section's own logic without inductor's minute of compiling
    speed.time_compile(Namespace(batch_size=2, padding_steps=1, rounds=2, warmup=1, compile_backend="eager"), stream)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("compiling (eager) and the first 8 steps: ") and "sequence lengths [" in lines[0]
    precision, why = resolve_mixed_precision("auto")
    assert lines[0].endswith(f"; {precision}: {why})")
    assert [line.split(":")[0].strip() for line in lines[1:3]] == ["eager", "compiled"]
    assert all(len(line.split("rounds ")[1].rstrip(")").split()) == 2 for line in lines[1:3])
    assert lines[3].startswith("  compiled steps take ") and lines[3].endswith("x the eager time")


def test_the_seed_loop_decodes_what_generate_decodes_so_the_benchmark_compares_the_same_work():
    bench = _script("generation_benchmark")
    import torch

    from vlmkit.text.processor import Processor
    from vlmkit.train.profiles import new_model
    from vlmkit.train.streams import shapeworld_stream

    torch.manual_seed(0)
    model = new_model("tiny").eval()
    processor = Processor.for_model(model)
    stream = shapeworld_stream("segment", model.codec)
    for i in range(2):
        prompt = processor.prompt_batch([stream[i]])
        seed = bench.seed_loop(model, prompt, 6)
        ours = model.generate(**prompt, max_new_tokens=6, min_new_tokens=6)
        assert seed.shape == (1, 6) and torch.equal(seed, ours)


def test_contenders_are_timed_in_turn_and_each_keeps_its_best():
    bench = _script("generation_benchmark")
    calls = []
    best = bench.timed({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3)
    assert calls == ["a", "b"] * 4  # one warm-up each, then a, b in every repeat
    assert set(best) == {"a", "b"} and all(0 <= seconds < 1 for seconds in best.values())


def test_the_clocked_grammar_masks_as_the_grammar_does_and_adds_up_its_time():
    bench = _script("generation_benchmark")
    import torch

    from vlmkit.text.constrained import LocationGrammar
    from vlmkit.train.profiles import new_model

    model = new_model("tiny")
    grammar = lambda: LocationGrammar(model.tokenizer, model.codec, "box", 8)  # noqa: E731
    clocked, scores = bench.Clocked(grammar()), torch.randn(3, len(model.tokenizer))
    started = torch.zeros(3, 0, dtype=torch.long)
    masked = clocked(started, scores.clone())
    assert torch.equal(masked, grammar()(started, scores.clone())) and torch.isinf(masked).any()
    first = clocked.seconds
    clocked(started, scores.clone())
    assert 0 < first < clocked.seconds


def test_the_segmentation_benchmark_trains_the_recipes_answer_form_unless_told(tmp_path, monkeypatch):
    """The documented plain command runs notebook 03's recipe (box, then outline); it once
    defaulted to the outline alone."""
    from vlmkit.storage.checkpoint import save_checkpoint
    from vlmkit.train.profiles import load_profile

    bench = _script("segmentation_benchmark")
    save_checkpoint(load_profile("tiny", announce=False).new_model(), tmp_path / "start")
    for task, expected in ((), "locate_segment"), (("--task", "segment"), "segment"):
        out = tmp_path / f"{expected}.json"
        monkeypatch.setattr("sys.argv", ["bench", str(tmp_path / "start"), "--set", "steps=2", "--eval-size", "2",
                                         *task, "--out", str(out)])
        bench.main()
        result = json.loads(out.read_text())
        assert result["task"] == expected and (result["box_acc@0.5"] is None) == (expected == "segment")


def test_the_combined_benchmark_scores_every_task_before_and_after_the_mixture(tmp_path, monkeypatch, capsys):
    from vlmkit.storage.checkpoint import save_checkpoint
    from vlmkit.train.profiles import load_profile

    bench = _script("combined_benchmark")
    save_checkpoint(load_profile("tiny", announce=False).new_model(), tmp_path / "start")
    monkeypatch.setattr("sys.argv", ["bench", str(tmp_path / "start"), "--set", "steps=2", "eval_size=2",
                                     "--out", str(tmp_path / "result.json")])
    bench.main()
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["recipe"] == {"steps": 2, "eval_size": 2} and result["history"][-1]["step"] == 2
    assert set(result["scores"]) == {"caption (cider)", "ground (acc@0.5)", "locate_segment (miou)",
                                     "locate_segment (p@0.5)", "locate_segment (box_acc@0.5)", "point (inside)",
                                     "describe (cider)"}
    assert "2 steps in" in capsys.readouterr().out


def test_the_step_profile_splits_a_mixture_step_into_drawing_batch_and_model(monkeypatch, capsys):
    profile_script = _script("step_profile")
    monkeypatch.setattr("sys.argv", ["profile", "--stage", "04_combined", "--steps", "2", "--warmup", "1",
                                     "--rows", "3", "--scenes", "50"])
    profile_script.main()
    out = capsys.readouterr().out
    assert out.startswith("04_combined (caption, ground, locate_segment, point, describe): 2 steps of batch 32")
    assert "50 scenes reused" in out
    for part in profile_script.PARTS:
        assert part in out


def test_the_cost_report_sets_the_real_lm_beside_the_random_one(tmp_path, monkeypatch, capsys):
    """One column per model; a GGUF path that is not there is named before any model is built."""
    cost = _script("full_profile_cost")
    described = {name: {"counts": {"vision": 1, "projector": 2, "language": 3, "total": 6}, "lengths": lengths,
                        "flops": 150.4e9, "flops_tokens": 61, "lm_loss": loss}
                 for name, lengths, loss in (("random LM", [65, 71], 11.01), ("real LM (GGUF)", [61, 63], 4.45))}
    cost.print_columns(described)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("|")[1:] == [f"{'random LM':>19} ", f"{'real LM (GGUF)':>19}"]
    assert next(line for line in lines if "mean / max tokens" in line).split("|")[1:] == \
        [f"{'68 / 71':>19} ", f"{'62 / 63':>19}"]
    assert "11.01 nats/token" in lines[-1] and "4.45 nats/token" in lines[-1]
    monkeypatch.setattr("sys.argv", ["cost", "--lm-gguf", str(tmp_path / "nowhere.gguf"), "--batches"])
    monkeypatch.setattr(cost, "build", lambda *a: pytest.fail("built a model before checking the GGUF path"))
    with pytest.raises(FileNotFoundError, match="nowhere.gguf': no such file"):
        cost.main()


def _fault_injection(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` with benchmarks/fault_injection.py imported as ``faults``, in a process of its own:
    the script forks, which a process that has run other tests' threads must not."""
    prelude = (f"import importlib.util, sys\nspec = importlib.util.spec_from_file_location('faults', "
               f"{str(ROOT / 'benchmarks' / 'fault_injection.py')!r})\nfaults = importlib.util.module_from_spec(spec)\n"
               f"spec.loader.exec_module(faults)\n")
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=600,
                          check=False)


def test_the_quick_fault_injection_kills_runs_at_operations_and_moments_and_every_run_finishes():
    """What make test runs of issue 52's fault model: deaths at a few file-system operations
    (issue 52's window among them), second deaths, random SIGKILLs, the notebook cells rerun."""
    run = _fault_injection("sys.argv = ['fault_injection.py', '--quick']\nfaults.main()")
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    lines = run.stdout.splitlines()
    a, b, second, d = (next(line for line in lines if line.startswith(prefix))
                       for prefix in ("(a) ", "(b) ", "    second deaths", "(d) "))
    # how many runs 4 kills take depends on where they land; every one of them must finish
    assert re.search(r"\(a\) random kills: 4 SIGKILLs .*: (\d+) of \1 resumed runs finished bit-identical", a), a
    assert "153 places to die (each write also torn), of which 6 here; 6 wrecks" in b
    assert "6 of 6 resumed runs finished bit-identical" in b and "3 of 3 resumed runs finished" in second
    assert "101 places to die, of which 3 here; run again" in d and "3 of 3 resumed runs finished" in d
    for line in a, b, second, d:
        assert "leftovers found: 0, blocking leftovers found: 0; 0 problems" in line, line
    assert lines[-1].startswith("all held")


def test_the_fault_injection_finds_issue_52s_wreck_where_a_backup_is_deleted_in_place():
    """The failure path: with the fix undone (the backup deleted where it lies, a remnant of it
    refused), a death at the last unlink of that deletion leaves the issue's wreck, and the
    resumed run's save refuses it."""
    run = _fault_injection(
        "import shutil\nfrom vlmkit import checkpoint\n"
        "checkpoint._discard = lambda backup, target: shutil.rmtree(backup, ignore_errors=True)\n"
        "checkpoint._check_backup = lambda backup, target: checkpoint.check_replaceable(backup)\n"
        "import tempfile\nfrom pathlib import Path\nfaults.setup(3)\nwork = Path(tempfile.mkdtemp())\n"
        "faults.forked(faults.train, work / 'reference' / 'ckpt')\n"
        "expected = checkpoint.load_model(work / 'reference' / 'ckpt').state_dict()\n"
        "print('held' if faults.operation_deaths(work / 'b', expected, quick=True) else 'failed')\n")
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[-1] == "failed"
    assert "blocking leftovers found: 1;" in next(line for line in lines if line.startswith("(b) "))
    assert any(line.startswith("    PROBLEM save at step 2: unlink history.json: failed: CheckpointError: refusing to "
                               "save a checkpoint to") and ".ckpt.old: it is a non-empty directory that is not a "
               "vlmkit checkpoint (it holds history.json)" in line for line in lines), run.stdout


def _summary(quick=False, commit="abc1234", kind="CPU with bf16", profile="tiny"):
    return {"profile": profile, "quick": quick, "commit": commit, "arithmetic": "bf16", "examples": 380800,
            "machine": {"kind": kind, "name": "AMD EPYC", "threads": 2},
            "notebooks": [{"notebook": "02_grounding.ipynb", "minutes": 4.5 if quick else 17.4,
                           "results": {"metrics": {"acc@0.5": 0.6 if quick else 0.9, "acc@0.75": 0.4}}}]}


def test_a_demo_run_replaces_the_recorded_run_of_its_machine_kind(tmp_path):
    record_demo = _script("record_demo")
    runs = tmp_path / "runs.json"
    older = {"commit": "old1234", "machine": {"kind": "CPU with bf16"}, "minutes": {"02_grounding": 20.0}}
    runs.write_text(json.dumps([older, {"commit": "amx1234", "machine": {"kind": "CPU with AMX"},
                                        "minutes": {"02_grounding": 13.6}}]))
    entry = record_demo.run_entry(_summary(), _summary(quick=True))
    assert entry["minutes"] == {"02_grounding": 17.4} and entry["examples"] == 380800
    assert entry["quick"] == {"02_grounding": {"minutes": 4.5, "metrics": {"acc@0.5": 0.6}}}
    recorded = record_demo.record(entry, runs)
    assert [r["commit"] for r in recorded] == ["abc1234", "amx1234"] and older not in recorded


@pytest.mark.parametrize("summary, quick, message", [
    (_summary(commit="abc1234+changes"), None, "record runs of a committed tree"),
    (_summary(profile="full"), None, "'full' profile"),
    (_summary(quick=True), None, "give it with --quick"),
    ({**_summary(), "examples": None}, None, "does not name its series' training examples"),
    (_summary(), _summary(quick=True, kind="CPU with AMX"), "same kind of machine"),
])
def test_runs_that_are_not_the_tiny_series_on_a_commit_are_refused(summary, quick, message):
    with pytest.raises(ValueError, match=message):
        _script("record_demo").run_entry(summary, quick)


def test_caption_errors_name_what_a_caption_gets_wrong():
    errors = _script("caption_errors").caption_errors
    from vlmkit.data.shapeworld.language import NamedObject as O
    truth = [O("big", "red", "circle"), O("small", "blue", "square")]
    assert errors(list(truth), truth) == set()
    assert errors([O("small", "blue", "square"), O("big", "red", "circle")], truth) == set()  # order is free
    assert errors([O("big", "red", "square"), O("small", "blue", "square")], truth) == {"shape"}
    assert errors([O("big", "red", "circle")], truth) == {"count", "size", "colour", "shape"}
    assert errors([O("big", "blue", "circle"), O("small", "red", "square")], truth) == {"pairing"}
    assert errors(None, truth) == {"unparsed"}


def test_weight_noise_jitters_each_weight_once_per_step_and_only_in_fp32(monkeypatch, capsys):
    bench = _script("learning_benchmark")
    import torch
    layer, x = torch.nn.Linear(16, 16), torch.randn(4, 16)
    with bench.WeightNoise(0.01):
        first, again = layer(x), layer(x)
    with bench.WeightNoise(0.01):
        next_step = layer(x)
    plain = layer(x)
    assert torch.equal(first, again)  # one draw per weight per step
    assert not torch.equal(first, next_step) and not torch.equal(first, plain)
    relative = ((first - plain).norm() / plain.norm()).item()
    assert 0.001 < relative < 0.05  # about sigma's size, not more
    first.sum().backward()
    assert layer.weight.grad is not None  # the gradient reaches the plain weight
    monkeypatch.setattr("sys.argv", ["bench", "--weight-noise", "0.003", "--mixed-precision", "bf16"])
    with pytest.raises(SystemExit):
        bench.main()
    assert "train in fp32 (--mixed-precision no), not bf16" in capsys.readouterr().err
