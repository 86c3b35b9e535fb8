#!/usr/bin/env bash
# Prints N free TCP ports on 127.0.0.1 (default 1), space-separated: held open together while
# chosen, so they are distinct.
set -euo pipefail
python3 - "${1:-1}" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
