"""SHA-256 for file and plan digests, without loading OpenSSL at start-up.

`import hashlib` loads OpenSSL's libcrypto, about 4 ms of a plan's 80 ms cold start; CPython's own
SHA-256 module (the one hashlib falls back to) loads in a tenth of that and gives the same digest.
"""

from __future__ import annotations

try:
    from _sha2 import sha256  # CPython 3.12 and later
except ImportError:  # pragma: no cover - depends on the interpreter
    try:
        from _sha256 import sha256  # CPython 3.11
    except ImportError:
        from hashlib import sha256

__all__ = ["sha256", "sha256_hex"]


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data` as 64 lowercase hex digits."""
    return sha256(data).hexdigest()
