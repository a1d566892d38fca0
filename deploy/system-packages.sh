#!/usr/bin/env bash
# Makes sure the Debian/Ubuntu packages the station needs are installed.
#   deploy/system-packages.sh run    what the station needs to run
#   deploy/system-packages.sh test   that, plus what the tests and benchmarks use
# As root it installs what is missing with apt-get; otherwise it prints the exact command
# and stops, so nothing is half set up.
set -euo pipefail

run_packages=(
  python3 python3-venv python3-dev gcc          # the virtualenv; PyAudio builds from source
  portaudio19-dev libportaudio2                 # PyAudio's PortAudio
  libgl1 libgl1-mesa-dri libegl1 libmtdev1      # Kivy's OpenGL (Mesa) and touch input
  xvfb xauth                                    # a virtual screen, to try it with no monitor
  espeak-ng                                     # talk-back's voice (kiosk/speech.py)
)
test_packages=(
  zbar-tools                                    # reads QR codes back from screenshots
  chromium chromium-driver                      # the phone page in a real browser
  pulseaudio pulseaudio-utils libasound2-plugins alsa-utils  # a real-time paced sound device
  lame sox mpg123                               # test audio, and the playback CPU peer
  poppler-utils                                 # reads the script PDFs back
  ghostscript                                   # a second PDF producer for the script reader's tests
  imagemagick xdotool                           # screenshots of the real display, key presses
  nginx                                         # the download benchmark's peer
  syncthing                                     # the drop folder fed from another machine, for real
  flite festival festvox-kallpc16k              # bench/voices.py: other offline voices than espeak-ng
)

case "${1:-run}" in
  run) wanted=("${run_packages[@]}") ;;
  test) wanted=("${run_packages[@]}" "${test_packages[@]}") ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "These system packages are missing. Install them, then run make again:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
