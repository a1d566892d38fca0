#!/usr/bin/env bash
# Makes the station its own Wi-Fi access point with NetworkManager (Raspberry Pi OS
# Bookworm uses it; so can Debian), for clinics whose Wi-Fi keeps phones away from the
# station. Phones join this network, get an address from NetworkManager, and open
# take-home links at the station's fixed address on it.
#
#   sudo deploy/hotspot.sh "Clinic audio" 'a passphrase of 8 to 63 characters'
#   sudo deploy/hotspot.sh --remove
#
# Settings from the environment: IFNAME (wlan0), ADDRESS (10.42.0.1/24), BAND (bg: 2.4 GHz,
# which every phone can use), CHANNEL (6), PORT (the take-home port, 8080).
# Prints the lines to put in config.toml's [take_home] section afterwards.
set -euo pipefail

NAME=kiosk-hotspot
IFNAME=${IFNAME:-wlan0}
ADDRESS=${ADDRESS:-10.42.0.1/24}
BAND=${BAND:-bg}
CHANNEL=${CHANNEL:-6}
PORT=${PORT:-8080}

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

command -v nmcli >/dev/null || { echo "nmcli not found: this needs NetworkManager (see deploy/README.md for hostapd)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "Run it with sudo: it changes the network settings." >&2; exit 1; }

if [[ ${1:-} == "--remove" ]]; then
  nmcli connection delete "$NAME" 2>/dev/null || echo "There was no $NAME connection."
  exit 0
fi
[[ $# -eq 2 ]] || usage
ssid=$1
passphrase=$2
if (( ${#ssid} < 1 || $(printf %s "$ssid" | wc -c) > 32 )); then
  echo "The network name must be 1 to 32 bytes long." >&2; exit 2
fi
if (( ${#passphrase} < 8 || ${#passphrase} > 63 )); then
  echo "The passphrase must be 8 to 63 characters long (WPA2)." >&2; exit 2
fi

# Start again from nothing, so running the script twice gives the same result.
nmcli connection delete "$NAME" >/dev/null 2>&1 || true
# ipv4.method shared: NetworkManager hands out addresses (DHCP) and answers DNS on this
# network. WPA2 with AES only (proto rsn, ccmp), which every phone of the last decade joins.
nmcli connection add type wifi ifname "$IFNAME" con-name "$NAME" ssid "$ssid" \
  connection.autoconnect yes connection.autoconnect-priority 100 \
  802-11-wireless.mode ap 802-11-wireless.band "$BAND" 802-11-wireless.channel "$CHANNEL" \
  ipv4.method shared ipv4.addresses "$ADDRESS" ipv6.method disabled \
  wifi-sec.key-mgmt wpa-psk wifi-sec.proto rsn wifi-sec.pairwise ccmp wifi-sec.group ccmp \
  wifi-sec.psk "$passphrase" >/dev/null
nmcli connection up "$NAME" >/dev/null

host=${ADDRESS%/*}
esc() { printf %s "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
cat <<EOT
The access point "$ssid" is up on $IFNAME at $host and comes back after a restart.
Now set these in the [take_home] section of the station's config.toml and restart it
(sudo systemctl restart kiosk):

public_address = "$host:$PORT"
wifi_ssid = "$(esc "$ssid")"
wifi_password = "$(esc "$passphrase")"
wifi_security = "WPA"
wifi_hidden = false
EOT
