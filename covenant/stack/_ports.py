"""Free loopback ports, preferring the one an engine had before."""

from __future__ import annotations

import socket

__all__ = ["free_port", "port_is_free"]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(preferred: int | None = None, taken: set[int] | None = None) -> int:
    """``preferred`` if it is free, else a port the kernel picks on loopback."""
    taken = taken or set()
    if preferred and preferred not in taken and port_is_free(preferred):
        return preferred
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port
