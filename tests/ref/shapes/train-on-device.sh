#!/bin/bash
# train-on-device.sh: continues resources/shapes on a lent GPU machine, inside one device call.
#
# Draws a bigger data set than the CPU recipe (16 more streams of the grammar, on all cores),
# then trains side by side on the one GPU until the budget is spent:
#   A: UNet + text encoder from resources/shapes, batch 512, lr 6e-4, all images
#   B: the same at batch 256, lr 3e-4 (the safer of two guesses: pick by evaluate.py)
#   D: the VAE's decoder (encoder frozen: the latent space stays as it is), batch 256, lr 5e-4
# and copies the weights (safetensors only; configs are resources/shapes') and the logs to OUTDIR
# every 30 seconds and at the end, so a call cut short still returns its last checkpoint.
#
# Usage, from the repository root:  tests/ref/shapes/train-on-device.sh OUTDIR [SECONDS] [CHUNKS]
# Then, here: put OUTDIR's A-* or B-* files into a copy of resources/shapes (see the model card)
# and judge it with tests/ref/shapes/evaluate.py --model COPY.
set -eu
out=$1
budget=${2:-480}   # seconds from start to the last checkpoint
chunks=${3:-16}
t0=$(date +%s)
here=$(dirname "$0")
w=/tmp/shapes-device
rm -rf "$w" && mkdir -p "$w/base" "$out"

python3 "$here/train.py" --phase data --work "$w/base" --count 0 --extra-chunks "$chunks" --chunk 6000
for r in A B D; do
    mkdir -p "$w/$r"
    ln -s "$w/base/data.npz" "$w/$r/data.npz"
    cp -r resources/shapes/vae "$w/$r/vae"      # its encoder made the latents the UNet knows
    cp -r resources/shapes/vae "$w/$r/decoder"
done

collect() {
    for r in A B; do
        [ -f "$w/$r/model/unet/diffusion_pytorch_model.safetensors" ] || continue
        cp "$w/$r/model/unet/diffusion_pytorch_model.safetensors" "$out/$r-unet.safetensors"
        cp "$w/$r/model/text_encoder/model.safetensors" "$out/$r-text.safetensors"
    done
    cp "$w/D/decoder/diffusion_pytorch_model.safetensors" "$out/D-vae.safetensors"
    tail -n 400 "$w"/A/train.log "$w"/B/train.log "$w"/D/train.log "$w"/base/train.log > "$out/logs.txt" 2>/dev/null || true
}

left=$((t0 + budget - $(date +%s)))
minutes=$(python3 -c "print(max(0.5, ($left - 20) / 60))")
common="--phase unet --resume --start resources/shapes --latent-count 0 --save-every 1.5 --threads 2 --minutes $minutes"
python3 "$here/train.py" $common --work "$w/A" --out "$w/A/model" --batch 512 --lr 6e-4 > "$w/A.out" 2>&1 &
pa=$!
python3 "$here/train.py" $common --work "$w/B" --out "$w/B/model" --batch 256 --lr 3e-4 > "$w/B.out" 2>&1 &
pb=$!
python3 "$here/train.py" --phase decoder --resume --work "$w/D" --batch 256 --lr 5e-4 --save-every 1.5 \
    --threads 2 --minutes "$minutes" > "$w/D.out" 2>&1 &
pd=$!
while kill -0 $pa 2>/dev/null || kill -0 $pb 2>/dev/null || kill -0 $pd 2>/dev/null; do
    sleep 30
    collect
done
status=0
for p in $pa $pb $pd; do wait $p || status=1; done
collect
tail -n 5 "$w"/A.out "$w"/B.out "$w"/D.out
exit $status
