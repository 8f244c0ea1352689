#!/usr/bin/env bash
# The GPU check: what only a GPU can show, in one script sized for about 12 minutes on one H100/H200.
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine; JSON under $OUT (default: $OUT or runs/gpu-check)
#   bash benchmarks/gpu_check.sh --dry-run  # every step at toy size on the CPU (CI runs this, so it cannot rot)
#
# 1. Inverter training throughput at imagenet64 and imagenet128: eager fp32, bf16, torch.compile and all fast paths
#    together; images/s, peak memory and model FLOP utilisation (benchmarks.run).
# 2. The ImageNet data path: prepare-data throughput with 1 and 2 workers, the memory a training process
#    (and each of 2 ranks) gains from prepared data, and prepare-data with a ResNet-50's logits of the 224-px
#    crops on the device (benchmarks.data_pipeline).
# 3. Retrieval's peak memory at N = 1k / 5k / 20k (benchmarks.metric_memory).
# 4. What reading every step's losses on the host costs vs reading them at the log cadence (benchmarks.host_syncs).
# 5. Every stage on the device, end to end at a small size: train a classifier, a judge and an inverter, then
#    evaluate (one process and two under torchrun) and analyze on the device and on the CPU; each stage's seconds
#    and any error (benchmarks.device_stages). Its JSON says whether analyze may default to the GPU.
# Not here: the whole replication study at GPU size (step 5 runs every stage, at a small size).
# Commit $OUT's JSON under docs/results/gpu/ with this command.
set -euo pipefail
DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; fi
OUT="${OUT:-runs/gpu-check}"
mkdir -p "$OUT"
if (( DRY )); then
  DEVICE=cpu PRESETS=(tiny) VARIANTS=(eager-fp32) ITERS=1 REPEATS=1 EXTRA=(--quick --no-compile)
  IMAGES=40 MEMORY_MB=20 SIZES=200,400 SYNC_PRESET=tiny SYNC_ITERS=2 STAGE_STEPS=4 STAGE_IMAGES=64 STAGE_TRAIN=500 WORKERS=2 MEMORY_STEPS=2
  STAGE_EXTRA=()
  for o in train.amp=off train.channels_last=false data.train_size=512 train.eval_size=32; do
    STAGE_EXTRA+=(--inverter-override "$o")
  done
else
  DEVICE=cuda PRESETS=(imagenet64 imagenet128) VARIANTS=(eager-fp32 bf16 compile all) ITERS=10 REPEATS=3 EXTRA=()
  IMAGES=4000 MEMORY_MB=2000 SIZES=1000,5000,20000 SYNC_PRESET=imagenet64 SYNC_ITERS=30
  STAGE_STEPS=200 STAGE_IMAGES=500 STAGE_TRAIN=2000 WORKERS=8 STAGE_EXTRA=() MEMORY_STEPS=20
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv" || true
fi
step() { echo "[gpu_check] $1 ($(date +%T))"; }
step "1/5 training throughput: ${PRESETS[*]} on $DEVICE"
python -m benchmarks.run --device "$DEVICE" --presets "${PRESETS[@]}" --variants "${VARIANTS[@]}" \
  --iters "$ITERS" --repeats "$REPEATS" "${EXTRA[@]}" --out "$OUT/throughput.json"
step "2/5 data pipeline: $IMAGES JPEGs, ${MEMORY_MB} MB arrays"
python -m benchmarks.data_pipeline --out "$OUT/data_pipeline.json" --images "$IMAGES" --memory-mb "$MEMORY_MB" \
  --logits-device "$DEVICE" --logits-workers "$WORKERS" --memory-steps "$MEMORY_STEPS"
step "3/5 retrieval memory at N = $SIZES"
python -m benchmarks.metric_memory --out "$OUT/metric_memory.json" --sizes "$SIZES"
step "4/5 host reads per step vs at the log cadence: $SYNC_PRESET"
python -m benchmarks.host_syncs --device "$DEVICE" --preset "$SYNC_PRESET" --iters "$SYNC_ITERS" --repeats "$REPEATS" \
  --out "$OUT/host_syncs.json"
step "5/5 every stage on $DEVICE: $STAGE_STEPS G steps, $STAGE_IMAGES images scored"
python -m benchmarks.device_stages --device "$DEVICE" --steps "$STAGE_STEPS" --images "$STAGE_IMAGES" \
  --train-images "$STAGE_TRAIN" "${STAGE_EXTRA[@]}" --out "$OUT/device_stages.json"
step "done: $OUT"
