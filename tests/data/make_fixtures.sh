#!/usr/bin/env bash
# Regenerates the tiny MP3 fixtures the content tests use (committed, so tests need no lame).
# A tone with a noise burst gives lame's VBR mode something to vary its bitrate over.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sox -n -r 44100 -c 1 -b 16 "$tmp/mono.wav" synth 6 sine 330 vol 0.4 : synth 2 pinknoise vol 0.3 : synth 2 sine 520 vol 0.3
sox -n -r 22050 -c 2 -b 16 "$tmp/stereo.wav" synth 5 sine 220 sine 440 vol 0.4 : synth 1 pinknoise vol 0.2
sox "$tmp/mono.wav" "$tmp/short.wav" trim 0 3
lame --quiet -b 32 "$tmp/mono.wav" tone-cbr.mp3            # 10 s, MPEG-2 22.05 kHz CBR, no Info tag
lame --quiet -b 64 --resample 44.1 "$tmp/short.wav" tone-cbr44.mp3  # 3 s, MPEG-1 CBR with an Info tag
lame --quiet -V 7 "$tmp/mono.wav" tone-vbr.mp3             # 10 s, MPEG-1 VBR, mono
lame --quiet -V 8 "$tmp/stereo.wav" tone-vbr-stereo.mp3    # 6 s, MPEG-2 VBR, stereo
ls -l ./*.mp3
