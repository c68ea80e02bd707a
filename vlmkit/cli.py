"""The ``vlmkit`` command: the notebooks' main calls, from a shell.

    vlmkit demo                                   run the notebook series (what ``make demo`` does)
    vlmkit train STAGE [--set key=value ...]      train one stage with its recipe
    vlmkit ground CHECKPOINT IMAGE "expression"   a box for the object the expression names
    vlmkit segment CHECKPOINT IMAGE "expression"  its outline
    vlmkit eval CHECKPOINT                        held-out scores of a checkpoint
    vlmkit eval CHECKPOINT --refcoco              the papers' RefCOCO/RefCOCO+/RefCOCOg table
    vlmkit export CHECKPOINT OUT_DIR              ONNX graphs that onnxruntime answers with
    vlmkit convert FORMAT ... OUT.jsonl           COCO, RefCOCO or ShapeWorld to vlmkit's JSON Lines
    vlmkit check FILE.jsonl                       read a data file of your own and say what is in it
    vlmkit app CHECKPOINT                         a web page to ask the model about your images

``train`` and ``eval`` take ``--data FILE.jsonl``: rows of your own (docs/data.md).

``vlmkit COMMAND --help`` says more. Bad input (a missing file, an unknown word, a recipe
field that does not exist) ends with a one-line error and exit status 2; a model answer
that does not parse ends with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from vlmkit.train.recipes import STAGES

EVAL_TASKS = ("caption", "ground", "segment", "locate_segment", "point", "describe")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlmkit", description="Learn and do visual grounding with a small VLM.",
                                     epilog="Profiles: --profile or VLMKIT_PROFILE (tiny: CPU, offline; full: GPU, "
                                            "pretrained models, RefCOCO/COCO).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the notebook series headless and summarise its results",
                               description="Execute every numbered notebook in order (papermill) and write the "
                                           "executed copies and summary.md/summary.json. Needs the notebooks: run it "
                                           "in a clone of the repository, or pass --notebooks.")
    demo.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="folder of the numbered notebooks")
    demo.add_argument("--out", type=Path, default=Path("outputs/demo"), help="where the executed notebooks go")
    demo.add_argument("--quick", action="store_true", help="the quick recipes (a quarter of the steps; "
                                                             "checkpoints/quick/)")

    train = commands.add_parser("train", help="train one stage with its recipe",
                                description="Train STAGE as its notebook does (from the previous stage's checkpoint, "
                                            "or a stand-in), score it on held-out rows and save it to the checkpoint "
                                            "folder. Interrupted, the same command continues from the last save.")
    train.add_argument("stage", choices=STAGES, metavar="STAGE", help=f"one of {', '.join(STAGES)}")
    train.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", dest="assignments",
                       help="change recipe fields, e.g. --set steps=200 lr=1e-3 (see vlmkit.train.recipes)")
    train.add_argument("--from", type=Path, default=None, dest="start", metavar="CHECKPOINT",
                       help="start from this checkpoint instead of the previous stage's")
    train.add_argument("--quick", action="store_true", help="the quick recipe: a quarter of the steps, saved in "
                                                              "checkpoints/quick/ (vlmkit.train.recipes.Recipe.quick)")
    train.add_argument("--profile", choices=("tiny", "full"), default=None, help="default: VLMKIT_PROFILE or tiny")
    train.add_argument("--checkpoint-dir", type=Path, default=None,
                       help="where stages are saved (default: VLMKIT_CHECKPOINT_DIR or checkpoints/)")

    for name, what in (("ground", "a box"), ("segment", "an outline")):
        answer = commands.add_parser(name, help=f"{what} for the object an expression names",
                                     description=f"Print {what} (pixels of IMAGE) for the object EXPRESSION names, "
                                                 f"and with --out save IMAGE with it drawn on.")
        answer.add_argument("checkpoint", metavar="CHECKPOINT",
                            help="a saved vlmkit checkpoint folder, or a Hugging Face Hub id (owner/name)")
        answer.add_argument("image", type=Path, metavar="IMAGE", help="an image file (PNG, JPEG, TIFF, ...)")
        answer.add_argument("expression", metavar="EXPRESSION", help='e.g. "the red circle"')
        answer.add_argument("--out", type=Path, default=None, metavar="OVERLAY.png", help="save the image with the answer")
        if name == "segment":
            answer.add_argument("--outline-only", action="store_true",
                                help="ask 'segment:' (the outline alone) instead of 'locate and segment:' (the box, "
                                     "then the outline), for a model trained on outlines alone")

    evaluate = commands.add_parser("eval", help="held-out scores of a checkpoint",
                                   description="Score CHECKPOINT on held-out rows of its profile and print the table.")
    evaluate.add_argument("checkpoint", metavar="CHECKPOINT",
                          help="a saved vlmkit checkpoint folder, or a Hugging Face Hub id (owner/name)")
    evaluate.add_argument("--tasks", nargs="+", choices=EVAL_TASKS, default=["ground"], help="default: ground")
    evaluate.add_argument("--split", default="val", help="default: val")
    evaluate.add_argument("--count", type=int, default=None,
                          help="held-out scenes or rows (default 100; with --refcoco: objects per split, default all)")
    evaluate.add_argument("--profile", choices=("tiny", "full"), default=None, help="default: VLMKIT_PROFILE or tiny")
    evaluate.add_argument("--json", action="store_true", help="print the scores as JSON")
    evaluate.add_argument("--refcoco", action="store_true",
                          help="the papers' table instead: RefCOCO val/testA/testB, RefCOCO+ val/testA/testB, RefCOCOg "
                               "val/test (UMD), every expression, from VLMKIT_DATA (docs/gpu.md's layout); Acc@0.5 of "
                               "boxes, and mIoU/oIoU of outlines if --tasks names segment or locate_segment")
    evaluate.add_argument("--out", type=Path, default=Path("outputs/refcoco_protocol.json"), metavar="TABLE.json",
                          help="with --refcoco: where the table is saved (default outputs/refcoco_protocol.json)")

    export = commands.add_parser("export", help="export a checkpoint to ONNX",
                                 description="Write CHECKPOINT as ONNX graphs (vision + projector, language model) "
                                             "with its tokenizer to OUT_DIR; vlmkit.inference.export.OnnxVLM answers from them "
                                             "with onnxruntime alone.")
    export.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a saved vlmkit checkpoint folder, or a Hugging Face Hub id (owner/name)")
    export.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    _add_your_data(commands, train, evaluate)
    return parser


def _add_your_data(commands, train: argparse.ArgumentParser, evaluate: argparse.ArgumentParser) -> None:
    """Data of your own (docs/data.md): ``--data`` for train and eval, ``convert``, ``check``, ``app``."""
    train.add_argument("--data", type=Path, default=None, metavar="FILE.jsonl",
                       help="train on the 'train' rows of this file (vlmkit's JSON Lines, docs/data.md) instead of "
                            "the profile's data, scored on its 'val' rows")
    evaluate.add_argument("--data", type=Path, default=None, metavar="FILE.jsonl",
                          help="score on the rows of --split of this file (docs/data.md) instead of the profile's "
                               "held-out rows (--count does not apply)")
    for command in (train, evaluate):
        command.add_argument("--skip-bad", action="store_true",
                             help="with --data: skip bad lines of the file, listing them, instead of stopping")
    _add_convert(commands)
    _add_check_and_app(commands)


def _add_convert(commands) -> None:
    convert = commands.add_parser("convert", help="COCO, RefCOCO or ShapeWorld to vlmkit's JSON Lines",
                                  description="Write a dataset as vlmkit's JSON Lines (docs/data.md), to check, train "
                                              "and score it as data of your own. Prints what it wrote and left out.")
    formats = convert.add_subparsers(dest="source", required=True, metavar="FORMAT")
    coco = formats.add_parser("coco", help="COCO instances, with your expressions or category names",
                              description="COCO instances JSON + its image folder. With --expressions only the "
                                          "annotations it names, with its phrases; without, every object, named by "
                                          "its category (with its position or size where the category repeats).")
    coco.add_argument("annotations", type=Path, metavar="INSTANCES.json")
    coco.add_argument("images", type=Path, metavar="IMAGE_DIR")
    coco.add_argument("out", type=Path, metavar="OUT.jsonl")
    coco.add_argument("--expressions", type=Path, default=None, metavar="PHRASES.json",
                      help='{"<annotation id>": ["phrase", ...], ...}')
    coco.add_argument("--captions", type=Path, default=None, metavar="CAPTIONS.json",
                      help="COCO-format captions (captions_*.json) to add as caption lines")
    refer = formats.add_parser("refcoco", help="RefCOCO/+/g in the refer format (refs(...).p + instances.json)")
    refer.add_argument("refer_root", type=Path, metavar="REFER_ROOT")
    refer.add_argument("images", type=Path, metavar="IMAGE_DIR", help="COCO train2014 images")
    refer.add_argument("out", type=Path, metavar="OUT.jsonl")
    refer.add_argument("--split-by", default="unc", help="default: unc")
    hub = formats.add_parser("refcoco-hub", help="RefCOCO/+/g in the jxu124/refcoco schema (local parquet files)")
    hub.add_argument("hub_source", metavar="SOURCE", help="a parquet file or a folder of them")
    hub.add_argument("images", type=Path, metavar="IMAGE_DIR", help="COCO train2014 images")
    hub.add_argument("out", type=Path, metavar="OUT.jsonl")
    parquet = formats.add_parser("refcoco-parquet", help="RefCOCO/+/g in the lmms-lab schema (images embedded)")
    parquet.add_argument("files", type=Path, nargs="+", metavar="FILE.parquet")
    parquet.add_argument("out", type=Path, metavar="OUT.jsonl")
    for command in (refer, hub, parquet):
        command.add_argument("--dataset", choices=("refcoco", "refcoco+", "refcocog"), default="refcoco")
    for command in (coco, refer, hub, parquet):
        command.add_argument("--split", default="val" if command is parquet else "train",
                             help=f"default: {'val' if command is parquet else 'train'}")
    shapes = formats.add_parser("shapeworld", help="generated ShapeWorld scenes, saved as PNG beside the file")
    shapes.add_argument("out", type=Path, metavar="OUT.jsonl")
    shapes.add_argument("--scenes", nargs="+", default=["train=200", "val=50"], metavar="SPLIT=COUNT",
                        help="scenes per split (default: train=200 val=50)")
    shapes.add_argument("--seed", type=int, default=0)
    shapes.add_argument("--world", nargs="*", default=[], metavar="KEY=VALUE",
                        help='scene settings (vlmkit.data.shapeworld.SceneConfig), e.g. image_size=128 '
                             'shapes=\'["circle", "diamond"]\'')


def _add_check_and_app(commands) -> None:
    check = commands.add_parser("check", help="read a JSON Lines file of your own and summarise it",
                                description="Read FILE.jsonl as training and evaluation read it (every image "
                                            "through the one image loader) and print what it holds; a bad line "
                                            "stops it with the file, line and field, unless --skip-bad.")
    check.add_argument("file", type=Path, metavar="FILE.jsonl")
    check.add_argument("--skip-bad", action="store_true", help="skip bad lines, listing them, instead of stopping")

    app = commands.add_parser("app", help="a web page to ask a checkpoint about images (needs vlmkit[app])",
                              description="Serve a page where anyone can upload an image or pick an example, type "
                                          "an expression, and see the answer drawn, the answer as text and where "
                                          "the model looked. Needs gradio: pip install 'vlmkit[app]'.")
    app.add_argument("checkpoint", metavar="CHECKPOINT",
                     help="a saved vlmkit checkpoint folder, or a Hugging Face Hub id (owner/name)")
    app.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (this machine only)")
    app.add_argument("--port", type=int, default=7860, help="default: 7860")


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    from vlmkit.core.polygons import PolygonError
    from vlmkit.data.images import ImageError
    from vlmkit.data.schema import RecordError
    from vlmkit.storage.checkpoint import CheckpointError

    try:
        sys.exit(COMMANDS[args.command](args))
    except (CheckpointError, ImageError, RecordError, PolygonError, FileNotFoundError, ValueError) as err:
        print(f"vlmkit {args.command}: {err}", file=sys.stderr)
        sys.exit(2)


def _demo(args: argparse.Namespace) -> int:
    from vlmkit.series import run_series
    from vlmkit.train.profiles import load_profile

    load_profile()
    summary = run_series(args.notebooks, args.out, quick=args.quick)
    print((args.out / "summary.md").read_text())
    print(f"executed notebooks and summary in {args.out}/ ({len(summary['notebooks'])} notebooks)")
    return 0


def _train(args: argparse.Namespace) -> int:
    from vlmkit.storage.checkpoint import load_model
    from vlmkit.train.profiles import CHECKPOINT_ENV, load_profile
    from vlmkit.train.recipes import parse_assignments
    from vlmkit.train.stages import stage_dir, train_stage

    if args.checkpoint_dir is not None:
        os.environ[CHECKPOINT_ENV] = str(args.checkpoint_dir)
    profile = load_profile(args.profile)
    recipe = profile.recipe(args.stage, quick=args.quick, **parse_assignments(args.assignments))
    print(recipe)
    start = load_model(args.start) if args.start else None
    results = train_stage(args.stage, profile, recipe, start=start, **_training_data(args))
    print(json.dumps(results["metrics"], indent=1, default=float))
    print(f"saved to {stage_dir(args.stage, recipe)}")
    return 0


def _answer(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vlmkit.evaluation.viz import show_example
    from vlmkit.inference.answers import ground, segment
    from vlmkit.storage.checkpoint import load_model

    model = load_model(args.checkpoint).eval()
    if args.command == "ground":
        answer, parsed = ground(model, args.image, args.expression)
    else:
        answer, parsed = segment(model, args.image, args.expression, box_first=not args.outline_only)
    print(f"answer: {answer}")
    if not parsed.ok:
        print(f"no {'box' if args.command == 'ground' else 'outline'}: {parsed.failure.value}"
              f"{' (' + parsed.detail + ')' if parsed.detail else ''}")
        return 1
    if args.command == "ground":
        print("box (x1, y1, x2, y2 pixels):", [round(v, 1) for v in parsed.value])
    else:
        for k, part in enumerate(parsed.value):
            print(f"outline part {k} ({len(part)} vertices):", [(round(x, 1), round(y, 1)) for x, y in part])
    if args.out is not None:
        fig, ax = plt.subplots(figsize=(4, 4.3))
        box = parsed.value if args.command == "ground" else None
        polygons = parsed.value if args.command == "segment" else None
        show_example(ax, args.image, f'"{args.expression}" -> the model\'s answer (red, dashed)', pred_box=box,
                     pred_polygons=polygons)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.out, dpi=120, bbox_inches="tight")
        plt.close(fig)
        print(f"overlay written to {args.out}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    if args.data is not None:
        return _eval_data(args)
    from vlmkit.evaluation.evaluate import evaluate_task
    from vlmkit.storage.checkpoint import load_model
    from vlmkit.train.profiles import load_profile

    if args.refcoco:
        return _refcoco(args)
    profile = load_profile(args.profile)
    model = load_model(args.checkpoint).eval()
    count = 100 if args.count is None else args.count
    scores = {task: evaluate_task(model, task, profile.evaluation_rows(task, args.split, count=count))
              for task in args.tasks}
    return _print_scores(scores, args.json)


def _print_scores(scores: dict[str, dict], as_json: bool) -> int:
    from vlmkit.evaluation.metrics import format_table

    if as_json:
        print(json.dumps(scores, indent=1, default=float))
    else:
        columns = sorted({k for m in scores.values() for k, v in m.items() if isinstance(v, (int, float))})
        print(format_table(scores, columns))
    return 0


def _refcoco(args: argparse.Namespace) -> int:
    from vlmkit.evaluation.refcoco_protocol import format_protocol, refcoco_protocol
    from vlmkit.storage.checkpoint import load_model
    from vlmkit.train.profiles import data_root

    outlines = [task for task in args.tasks if task in ("segment", "locate_segment")]
    others = sorted(set(args.tasks) - {"ground", *outlines})
    if others or len(outlines) > 1:
        raise ValueError(f"--refcoco scores boxes (ground) and at most one outline task (segment or locate_segment); "
                         f"--tasks named {args.tasks}")
    root, model = data_root(), load_model(args.checkpoint).eval()
    table = refcoco_protocol(model, root, outlines[0] if outlines else None, limit=args.count)
    print(format_protocol(table))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"checkpoint": str(args.checkpoint), "data_root": str(root), "splits": table},
                                   indent=1))
    print(f"saved to {args.out}")
    if all("missing" in entry for entry in table):
        raise FileNotFoundError(f"no split of the protocol found under {root} (set VLMKIT_DATA; docs/gpu.md)")
    return 0


def _export(args: argparse.Namespace) -> int:
    from vlmkit.inference.export import export_onnx
    from vlmkit.storage.checkpoint import load_model

    folder = export_onnx(load_model(args.checkpoint), args.out_dir)
    print(f"exported to {folder}: " + ", ".join(sorted(p.name for p in folder.iterdir())))
    return 0


def _training_data(args: argparse.Namespace) -> dict:
    """``train_stage``'s keywords for ``--data``: the file's 'train' rows, scored on its 'val' rows."""
    if args.data is None:
        return {}
    from vlmkit.data.jsonl import read_jsonl

    data = read_jsonl(args.data, skip_bad=args.skip_bad)
    print(data.summary())
    return {"data": data.split("train"), "held_out": data.split("val") if "val" in data.splits() else []}


def _eval_data(args: argparse.Namespace) -> int:
    from vlmkit.data.jsonl import read_jsonl
    from vlmkit.evaluation.evaluate import evaluate_tasks
    from vlmkit.storage.checkpoint import load_model

    rows = read_jsonl(args.data, skip_bad=args.skip_bad).split(args.split)
    model = load_model(args.checkpoint).eval()
    return _print_scores(evaluate_tasks(model, rows, args.tasks), args.json)


def _convert(args: argparse.Namespace) -> int:
    from vlmkit.data import convert

    if args.source == "coco":
        written = convert.from_coco(args.annotations, args.images, args.out, args.expressions, args.captions,
                                    args.split)
    elif args.source == "refcoco":
        written = convert.from_refcoco(args.out, args.refer_root, args.images, args.dataset, args.split_by,
                                       args.split)
    elif args.source == "refcoco-hub":
        written = convert.from_refcoco_hub(args.out, args.hub_source, args.images, args.split, args.dataset)
    elif args.source == "refcoco-parquet":
        written = convert.from_refcoco_parquet(args.out, list(args.files), args.split, args.dataset)
    else:
        written = convert.from_shapeworld(args.out, _scene_counts(args.scenes), _world(args.world, args.seed))
    print(written.report())
    return 0


def _scene_counts(items: list[str]) -> dict[str, int]:
    from vlmkit.train.recipes import parse_assignments

    counts = parse_assignments(items)
    bad = {k: v for k, v in counts.items() if isinstance(v, bool) or not isinstance(v, int) or v < 1}
    if bad:
        raise ValueError(f"--scenes takes SPLIT=COUNT with a positive whole count, not {bad}")
    return counts


def _world(items: list[str], seed: int):
    import dataclasses

    from vlmkit.data.shapeworld import SceneConfig, ShapeWorld
    from vlmkit.data.shapeworld.dataset import HELD_OUT_PAIRS
    from vlmkit.train.recipes import parse_assignments

    settings = parse_assignments(items)
    known = {f.name for f in dataclasses.fields(SceneConfig)}
    if set(settings) - known:
        raise ValueError(f"SceneConfig has no field {sorted(set(settings) - known)}; its fields are {sorted(known)}")
    settings = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
                for k, v in settings.items()}
    config = SceneConfig(**settings)
    # the colour-shape pairs held out of train, of those this world can draw
    held_out = tuple((c, s) for c, s in HELD_OUT_PAIRS if c in config.colours and s in config.shapes)
    return ShapeWorld(config, seed=seed, held_out=held_out)


def _check(args: argparse.Namespace) -> int:
    from vlmkit.data.jsonl import read_jsonl

    print(read_jsonl(args.file, skip_bad=args.skip_bad).summary())
    return 0


def _app(args: argparse.Namespace) -> int:
    from vlmkit.app import serve

    try:
        serve(args.checkpoint, host=args.host, port=args.port)
    except ImportError as err:  # gradio, the app extra, is not installed
        print(f"vlmkit app: {err}", file=sys.stderr)
        return 2
    return 0


COMMANDS = {"demo": _demo, "train": _train, "ground": _answer, "segment": _answer, "eval": _eval, "export": _export,
            "convert": _convert, "check": _check, "app": _app}
