#!/usr/bin/env bash
# `make run`: starts the server. On a first start (no model in ./models and
# none named with -m) at a terminal, offers to download a small recommended
# instruct model with `rustygpt pull`, when a model hub is configured
# (RUSTYGPT_HF_ENDPOINT; none is built in) and the machine is not offline.
# Without one, the server starts anyway and says how to add a model.
set -euo pipefail
BIN=${BUILD_DIR:-build}/rustygpt
MODELS=${RUSTYGPT_MODELS_DIR:-./models}
# Qwen2.5-0.5B-Instruct, Q4_K_M: about 400 MB, runs well on any CPU
RECOMMENDED=${RUSTYGPT_RECOMMENDED_MODEL:-hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf}

named=0
for a in "$@"; do [[ $a == -m || $a == --model || $a == --model=* ]] && named=1; done
shopt -s nullglob
have=("$MODELS"/*.gguf)
if ((named == 0 && ${#have[@]} == 0)) && [[ -t 0 && -t 1 ]]; then
  if [[ ${RUSTYGPT_OFFLINE:-} == 1 || ${RUSTYGPT_OFFLINE:-} == true ]]; then
    echo "run: no models in $MODELS (offline: not offering a download)"
  elif [[ -z ${RUSTYGPT_HF_ENDPOINT:-} ]]; then
    echo "run: no models in $MODELS. To download the recommended one, set RUSTYGPT_HF_ENDPOINT to"
    echo "     your model hub's URL and run: $BIN pull $RECOMMENDED"
  else
    read -r -p "run: no models in $MODELS. Download ${RECOMMENDED#hf:} (about 400 MB)? [Y/n] " answer
    if [[ -z $answer || $answer == [Yy]* ]]; then
      "$BIN" pull "$RECOMMENDED" --models-dir "$MODELS" || echo "run: the download failed; starting without a model"
    fi
  fi
fi
exec "$BIN" serve "$@"
