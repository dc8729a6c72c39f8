#!/usr/bin/env bash
# Reproduce every committed model in trained_models/ (iris, iris-ideal, digits, mnist).
#
# Usage:  scripts/train_models.sh [all|iris|iris-ideal|digits|mnist ...]
# Environment (all optional):
#   E_POS, E_NEG   reversal potentials of the bottom-up iris model (dimensionless; default PAPER.md Table 2:
#                  2.80 and -1.53). To train on our own characterised values instead, either set these or set
#   PROFILE        a DeviceProfile JSON from `imcgen characterize` (then E+, E-, E_dis and the circuit effects --
#                  E±(|w|), the selector switch-off step, the firing delay -- come from it);
#                  default profiles/sky130_tt_27C.json, our tt/27 C characterisation. PROFILE= (empty) uses E_POS/E_NEG.
#   E_DIS          firing-phase discharger reversal potential for the iris model (default: ideal ramp).
#   IMCGEN_DATA    dataset folder holding mnist/ (default ../shared/datasets when it exists).
#   IMCGEN         the imcgen executable (default .venv/bin/imcgen).
#   THREADS        torch CPU threads per run (default 1: the machine is shared).
# Runs one training at a time. Each model's card.json records the exact command that made it.
set -euo pipefail
cd "$(dirname "$0")/.."

E_POS=${E_POS:-2.80}
E_NEG=${E_NEG:--1.53}
E_DIS=${E_DIS:-}
PROFILE=${PROFILE-profiles/sky130_tt_27C.json}  # bottom-up: our own characterised E+, E-, E_dis (set PROFILE= to use E_POS/E_NEG)
IMCGEN=${IMCGEN:-.venv/bin/imcgen}
THREADS=${THREADS:-1}
if [[ -z "${IMCGEN_DATA:-}" && -d ../shared/datasets ]]; then
  export IMCGEN_DATA=$(cd ../shared/datasets && pwd)
fi

targets=("$@")
[[ ${#targets[@]} -eq 0 || "${targets[0]}" == all ]] && targets=(iris iris-ideal digits mnist)

iris_reversal() {
  if [[ -n "$PROFILE" ]]; then
    echo "--device-profile $PROFILE"
  else
    echo "--e-pos $E_POS --e-neg $E_NEG${E_DIS:+ --e-dis $E_DIS}"
  fi
}

for t in "${targets[@]}"; do
  echo "=== $t ==="
  case "$t" in
    iris)
      # bottom-up model: PAPER.md Table 2 recipe (lr 1e-3, batch 50, gamma_T 0.1, gamma_W 1e-2, gamma_V 0.2)
      # shellcheck disable=SC2046
      "$IMCGEN" train --dataset iris --arch 5-5-5 $(iris_reversal) --recipe iris \
        --epochs 400 --seed 0 --noise 0.01 --steps 10 --val-fraction 0 --threads "$THREADS" \
        --name iris --out trained_models/iris
      ;;
    iris-ideal)
      # top-down baseline: the same network and recipe with |E±| = 100
      "$IMCGEN" train --dataset iris --arch 5-5-5 --ideal --recipe iris \
        --epochs 400 --seed 0 --noise 0.01 --steps 10 --val-fraction 0 --threads "$THREADS" \
        --name iris-ideal --out trained_models/iris-ideal
      ;;
    digits)
      "$IMCGEN" train --dataset digits --arch 64-64-10 --e-pos 2.80 --e-neg -1.53 --recipe default \
        --epochs 60 --lr 2e-3 --batch-size 32 --schedule cosine --seed 0 --noise 0.01 --steps 10 \
        --threads "$THREADS" --name digits --out trained_models/digits
      ;;
    mnist)
      # 5,000 real training images (train-5k.csv.gz), tested on the 10,000 real t10k images.
      # Evaluation uses DSTD with 30 points (fixed offset): the exact solver needs ~20 min for 10,000 x 784 x 400
      # on 2 shared cores; `imcgen evaluate trained_models/mnist --eval-solver exact` checks it against exact.
      "$IMCGEN" train --dataset mnist --arch 784-400-10 --e-pos 2.80 --e-neg -1.53 --recipe default \
        --epochs 40 --lr 1e-3 --batch-size 32 --schedule cosine --augment-shift 2 --seed 0 --noise 0.01 \
        --steps 10 --eval-solver dstd --eval-steps 30 --threads "$THREADS" --name mnist --out trained_models/mnist
      ;;
    *)
      echo "unknown target $t (iris, iris-ideal, digits, mnist)" >&2
      exit 2
      ;;
  esac
done
