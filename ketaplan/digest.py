"""SHA-256 for file and plan digests, without loading OpenSSL at start-up.

`import hashlib` loads OpenSSL's libcrypto, about 4 ms of a plan's 75 ms start; CPython's own
SHA-256 module (the one hashlib falls back to) loads in a tenth of that and gives the same digest,
at a quarter of OpenSSL's speed per byte. A command that hashes many files (`check`) calls
`prefer_openssl()` first: there the import is repaid after a few hundred files.
"""

from __future__ import annotations

try:
    from _sha2 import sha256 as _builtin_sha256  # type: ignore[import-not-found]  # CPython 3.12+; private C module, no stub in typeshed
except ImportError:  # pragma: no cover - depends on the interpreter
    try:
        from _sha256 import sha256 as _builtin_sha256  # type: ignore[import-not-found]  # CPython 3.11; private C module, no stub
    except ImportError:
        from hashlib import sha256 as _builtin_sha256

_sha256 = _builtin_sha256


def sha256(data: bytes = b""):
    """A SHA-256 hash object over `data` (update() and hexdigest() as hashlib's)."""
    return _sha256(data)


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data` as 64 lowercase hex digits."""
    return _sha256(data).hexdigest()


def prefer_openssl() -> None:
    """From now on, hash with OpenSSL's SHA-256 (hashlib): for commands that hash many files."""
    global _sha256
    import hashlib

    _sha256 = hashlib.sha256
