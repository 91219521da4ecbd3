#!/usr/bin/env bash
# Rebuild the shipped models and their cards from training runs (the commands the cards quote).
# The models ship with fanet-export's default head: stride-8 logits for FANet (the node turns
# them into exact labels at the camera's resolution, fanet_ros/label_upsampling.py), softmax
# probabilities at the input size for FSFFNet (its classifier is at stride 2).
# Usage: scripts/ship_models.sh synthetic|camvid   (train first; re-running fanet-train resumes)
#        MODELS=fsffnet FROM=schedule scripts/ship_models.sh camvid   (the twin, see below)
#        MODELS=fanet RUNS=_300 scripts/ship_models.sh camvid   (campaign/fanet_final_300 and
#        its twin fanet_schedule_300: the longer schedule's runs)
#        HARDWARE="2 CPU cores (AMD EPYC), no GPU" ...   the cards' hardware line when the runs
#        trained on another machine than the one that ships them (default: this one)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
cd "$ROOT"
CAMVID="${CAMVID_ROOT:-../shared/data/camvid}"
SYNTH="${SYNTH_ROOT:-/tmp/fanet_synth_data}"
CAMVID_DATA_NOTE="CamVid, SegNet split: the 367 train and 101 val frames (drives 0001TP, 0006R0, 0016E5), 480x360 resized to 512x384. CamVid images are for research and personal use (the SegNet tutorial repository states CC BY-NC 4.0): these weights inherit that restriction."
case "${1:-}" in
  synthetic)
    [ -d "$SYNTH/train" ] || python -m fanet_ros.synthetic --out "$SYNTH" --train 320 --val 64 \
      --height 192 --width 256 --seed 7
    fanet-train --model fanet --dataset-root "$SYNTH" --layout camvid --height 192 --width 256 \
      --batch-size 8 --epochs 20 --optimizer adam --learning-rate 0.002 --warmup-epochs 0.5 \
      --bn-momentum 0.9 --cache --workers 2 --verbose 2 --run-dir runs/fanet_synthetic \
      --augment legacy --aux-loss-weight 0 --class-weighting none --copy-paste 0 \
      --weight-decay 0  # fanet-train's defaults when the shipped model trained (2026-11-21)
    fanet-evaluate runs/fanet_synthetic --dataset-root "$SYNTH" --output-dir runs/fanet_synthetic/eval
    fanet-export runs/fanet_synthetic --output fanet_ros/models/fanet_synthetic.onnx \
      --dataset-name synthetic --head logits
    # the resolution table on the same generated streets rendered at 480x640
    [ -d "$SYNTH-480x640/val" ] || python -m fanet_ros.synthetic --out "$SYNTH-480x640" \
      --train 0 --val 64 --height 480 --width 640 --seed 7
    python -m bench.resolution_table --camvid "$SYNTH-480x640" --model fanet_synthetic \
      --sizes 192x256 256x352 384x512 480x640
    python -m fanet_training.model_card runs/fanet_synthetic \
      --metrics runs/fanet_synthetic/eval/metrics.json \
      --onnx fanet_ros/models/fanet_synthetic.onnx --output fanet_ros/models/fanet_synthetic.md \
      --resolution-table bench/results/resolution_fanet_synthetic.json \
      --title "FANet trained on synthetic street scenes (demo model)" \
      --data-note "320 train / 64 val scenes from \`python -m fanet_ros.synthetic --out DIR --train 320 --val 64 --height 192 --width 256 --seed 7\` (generated, no licence restrictions); CamVid's 11 classes" \
      --export-command "fanet-export runs/fanet_synthetic --output fanet_ros/models/fanet_synthetic.onnx --dataset-name synthetic --head logits" \
      --notes "For the demo and tests on generated drives (\`fanet_ros.synthetic\`); it has never seen a real camera image, use the CamVid model for real cameras. Large classes (road, sky, building, tree, car, pavement) are learned; thin and small ones (pole, sign, fence, pedestrian, bicyclist) are barely learned at 192x256 after 20 CPU epochs."
    ;;
  camvid)
    # The campaign's final runs (scripts/campaign.sh, docs/training.md#campaign-issue-22):
    # each model trains on train+val with the chosen recipe and ships its last epoch; its
    # *_schedule twin, trained the same way without drive 0006R0, gives the held-out figures.
    # FROM=schedule ships the twin itself while the final run is still training: the same
    # recipe and schedule on the frames outside 0006R0, scored on that drive by its own weights.
    for model in ${MODELS:-fanet fsffnet}; do
      runs="${RUNS:-}"  # suffix of the stage names: "" (100 epochs) or _300
      final="campaign/${model}_final$runs" schedule="campaign/${model}_schedule$runs"
      case "$model" in
        fanet) title="FANet trained on CamVid (default model for real cameras)" ;;
        fsffnet) title="FSFFNet trained on CamVid" ;;
        *) title="$model trained on CamVid" ;;
      esac
      data_note="$CAMVID_DATA_NOTE" twin=(--schedule-run "$schedule")
      notes="Val is trained on (the standard CamVid protocol trains on train+val): its figure shows fitting, not generalisation. The held-out figures (robustness table, campaign table in docs/training.md) come from the same recipe and schedule trained without drive 0006R0 ($schedule), scored on that drive. Resume or rerun the training with bash scripts/campaign.sh."
      if [ "${FROM:-final}" = schedule ]; then
        bash scripts/campaign.sh "${model}_schedule$runs"
        final="$schedule" twin=()  # its own card shows its held-out curve
        title="$title without drive 0006R0 (until ${model}_final$runs finishes)"
        data_note="${CAMVID_DATA_NOTE/the 367 train and 101 val frames (drives 0001TP, 0006R0, 0016E5)/the train and val frames of drives 0001TP and 0016E5 (367 frames; the 101 of drive 0006R0 left out)}"
        notes="The campaign's twin run, shipped while ${model}_final$runs (the same recipe on every train and val frame) trains: drive 0006R0 was left out of its training, so the held-out figures are its own weights on a drive they never saw. Val is trained on: its figure shows fitting, not generalisation. Resume the campaign with bash scripts/campaign.sh; MODELS=$model RUNS=$runs bash scripts/ship_models.sh camvid then ships the final run."
      else
        bash scripts/campaign.sh "${model}_schedule$runs" "${model}_final$runs"
      fi
      fanet-evaluate "$final" --dataset-root "$CAMVID" --output-dir "$final/eval"
      fanet-export "$final" --output "fanet_ros/models/${model}_camvid.onnx" \
        --save-weights  # ${model}_camvid.weights.h5 beside it: what fanet-train --init-from reads
      if [ "$final" = "$schedule" ]; then  # the twin ships: the held-out model is the shipped one
        cp "fanet_ros/models/${model}_camvid.onnx" "$schedule/heldout.onnx"
      else
        fanet-export "$schedule" --output "$schedule/heldout.onnx"
      fi
      fanet-robustness "$schedule/heldout.onnx" --dataset-root "$CAMVID" --split train \
        --drives 0006R0 --output "fanet_ros/models/${model}_camvid.robustness.json"
      # the campaign's table reads the twin's run folder: the same figures as the card's
      cp "fanet_ros/models/${model}_camvid.robustness.json" "$schedule/robustness.json"
      python -m bench.resolution_table --camvid "$CAMVID" --model "${model}_camvid" \
        --holdout-model "$schedule/heldout.onnx"
      python -m fanet_training.model_card "$final" --metrics "$final/eval/metrics.json" \
        --onnx "fanet_ros/models/${model}_camvid.onnx" \
        --output "fanet_ros/models/${model}_camvid.md" \
        --title "$title" --data-note "$data_note" ${HARDWARE:+--hardware "$HARDWARE"} \
        --robustness "fanet_ros/models/${model}_camvid.robustness.json" "${twin[@]}" \
        --resolution-table "bench/results/resolution_${model}_camvid.json" \
        --export-command "fanet-export $final --output fanet_ros/models/${model}_camvid.onnx --save-weights" \
        --notes "$notes"
    done
    ;;
  *) echo "usage: $0 synthetic|camvid" >&2; exit 2 ;;
esac
# The README's models table (and the other generated blocks) from the new cards and results.
python -m bench.render_performance
