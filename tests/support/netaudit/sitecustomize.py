"""Network audit for tests/system/test_offline.py: put this folder on PYTHONPATH and set AI_ME_NET_AUDIT.

Every Python process that starts with it installs an audit hook (PEP 578) that appends one JSON
line to $AI_ME_NET_AUDIT for each attempt to reach anything but loopback or a unix socket
(connect, sendto, sendmsg, name lookups), and one "start" line per process, so a test can check
that the hook really ran in the processes it cares about. Addresses and code locations only.
"""

import ipaddress
import json
import os
import socket
import sys
import traceback

_LOG = os.environ.get("AI_ME_NET_AUDIT")
_LOCAL_NAMES = {"", "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _local_host(host) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): a local wildcard, used to bind
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%")[0].lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name to resolve: resolving it is already traffic
    return addr.is_loopback or addr.is_unspecified


def _local_address(address) -> bool:
    if isinstance(address, (str, bytes)):
        return True  # AF_UNIX path (or abstract name)
    if isinstance(address, tuple) and address:
        return _local_host(address[0])
    return False


def _write(entry: dict) -> None:
    with open(_LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def _hook(event: str, args) -> None:
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[1]
        if getattr(sock, "family", None) == socket.AF_UNIX or _local_address(address):
            return
        target = repr(address)
    elif event == "socket.getaddrinfo":
        if _local_host(args[0]):
            return
        target = repr(args[0])
    elif event in ("socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
        if _local_host(args[0]):
            return
        target = repr(args[0])
    else:
        return
    # the callers that matter sit above the HTTP client's frames: keep a deep stack
    stack = [f"{f.filename}:{f.lineno}" for f in traceback.extract_stack()[-40:-1]]
    _write({"pid": os.getpid(), "event": event, "target": target, "stack": stack})


if _LOG:
    _write({"pid": os.getpid(), "event": "start", "argv": sys.argv[:3] if hasattr(sys, "argv") else []})
    sys.addaudithook(_hook)
