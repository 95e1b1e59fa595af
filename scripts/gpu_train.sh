#!/usr/bin/env bash
# One GPU training run from a packed face cache; prepared here, NOT yet run on a GPU (see docs/training.md).
#
# On the GPU machine, from the repository root, with the folder made by scripts/pack_gpu_cache.py
# carried along (default runs/gpu):
#
#     bash scripts/gpu_train.sh [PACK_DIR]
#
# Trains EfficientNet-Lite2 (the largest backbone whose ImageNet weights are available offline) at
# 224 px (v2: Lite0 at 192) with bf16 mixed precision for MINUTES minutes of epochs (default 7, so
# the command, export and calibration included, ends inside the tool's 10 minutes), then writes to
# $OUT: model_card.json, the ONNX model cut into parts under 15 MiB (the tool returns files of at
# most 16 MiB; rejoin with `cat deepdetector.onnx.part-* > deepdetector.onnx`, the card's sha256
# checks the result) and train.log. Without a GPU it stops with the trainer's message at once.
set -euo pipefail
PACK_DIR=${1:-runs/gpu}
OUT=${OUT:-runs/gpu-out}
MINUTES=${MINUTES:-7}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu STEPS=1 MINUTES=0.01 THREADS=1 WORKERS=1: a CPU smoke run of the whole path
STEPS=${STEPS:-200}
THREADS=${THREADS:-4}
WORKERS=${WORKERS:-$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/$PACK_DIR/site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# H.264 augmentation needs PyAV (absent from the GPU machine's image): JPEG only when it is missing
H264=$("$PY" -c "import av" 2>/dev/null && echo 0.35 || echo 0)
"$PY" -c "import typer; from deepdetector.training.cli import train; typer.run(train)" \
  --packed "$PACK_DIR/faces.npz" --device "$DEVICE" --backbone efficientnet-lite2 --input-size 224 --cache-size 288 --margin 1.6 \
  --seed 0 --epochs 400 --patience 400 --max-minutes "$MINUTES" --steps-per-epoch "$STEPS" --pairs 16 --synthetic 6 --supervised 6 \
  --lr 0.0003 --lr-schedule constant --ema 0.0 --synthetic-reals mixed --sbi-mask dense --h264 "$H264" \
  --threads "$THREADS" --workers "$WORKERS" --name deepdetector-lite2-gpu --version 3-gpu \
  --out "$OUT/model" --run-dir "${RUN_DIR:-/tmp/gpu-run}" --no-progress 2>&1 | tee "$OUT/train.log"
cp "$OUT/model/model_card.json" "$OUT/model_card.json"
split -b 15M -d "$OUT/model/deepdetector.onnx" "$OUT/deepdetector.onnx.part-"
rm -rf "$OUT/model"
ls -l "$OUT"
