#!/usr/bin/env bash
# What a Colab learner gets, repeated on any machine: a new virtualenv, vlmkit installed with the
# notebooks' own install line (read from notebook 01's first cell; this checkout's committed HEAD,
# git+file://, in place of the GitHub URL: pip clones it and builds a wheel, as on Colab), and
# each notebook copied alone into an empty folder and executed there at CI sizes. No notebook finds the previous one's checkpoint, so 02-04 must train their stand-ins,
# and notebook 03's real-photo section must run from the COCO sample packaged with vlmkit.
#
#   bash scripts/colab_like.sh [WORK_DIR]        (default: a new temporary folder)
#
# CONSTRAINTS=/dev/null lifts the torch pin (as for make). Prints one line per notebook and
# exits non-zero if any notebook fails or misses what it must show.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d -t vlmkit-colab-XXXX)}
constraints=${CONSTRAINTS:-$repo/constraints.txt}
mkdir -p "$work"
# the requirement of the cell's `%pip install -q "vlmkit @ git+https://..."`, pointed at this checkout
requirement=$(grep -o '"vlmkit @ git+https://github.com/[^"]*' "$repo/notebooks/01_captioning.ipynb" | head -1 \
  | tr -d '"' | sed "s#git+https://github.com/[^ ]*#git+file://$repo#")
[[ $requirement == "vlmkit @ git+file://"* ]] || { echo "no install line found in notebook 01's first cell"; exit 1; }
echo ">> new virtualenv in $work/venv; pip install '$requirement' (the notebooks' line) + a Jupyter kernel"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet -c "$constraints" "$requirement" papermill ipykernel ipywidgets
status=0
for notebook in "$repo"/notebooks/[0-9][0-9]_*.ipynb; do
  name=$(basename "$notebook" .ipynb)
  folder="$work/$name"
  rm -rf "$folder" && mkdir -p "$folder" && cp "$notebook" "$folder/"
  start=$(date +%s)
  if (cd "$folder" && env -u VLMKIT_CHECKPOINT_DIR VLMKIT_SMOKE=1 "$work/venv/bin/papermill" --log-output \
        "$name.ipynb" executed.ipynb > run.log 2>&1); then
    outcome="ran"
    case $name in
      01_*) ;;
      *) grep -q "Training a short stand-in" "$folder/run.log" || { outcome="ran, but trained no stand-in"; status=1; } ;;
    esac
    if [[ $name == 03_* ]]; then
      grep -q "vertices: mean IoU" "$folder/run.log" || { outcome="ran, but no real-photo round trip"; status=1; }
    fi
  else
    outcome="FAILED (see $folder/run.log)"; status=1
  fi
  echo "$name: $outcome in $(( $(date +%s) - start )) s, alone in $folder"
done
[[ $status == 0 ]] && echo "all notebooks ran as on a fresh Colab runtime" || echo "some notebooks failed"
exit $status
