#!/bin/bash
# Static test programs for the boot check: xenradclock-pt (the hypercall
# through privcmd), xrst-read (the device), goudp (a Go binary with a UDP
# socket).
set -euo pipefail
B=${B:?}
KP=$(cd "$(dirname "$0")/.." && pwd)
T=$B/tools
mkdir -p "$T"
for t in xenradclock-pt xrst-read; do
	gcc -static -O2 -Wall -Wextra -Werror -I"$KP/include" -o "$T/$t" "$KP/tools/$t.c"
done
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
(cd "$KP/tools/goudp" && CGO_ENABLED=0 "$GO" build -trimpath -o "$T/goudp" .)
ls "$T"
