"""ZeroMQ CURVE for the bridge: key files, the sender's allow-list, and socket setup.

A key directory holds ZeroMQ certificate files (``zmq.auth`` format)::

    DIR/server.key          the sender's public key      (copy it to every receiver)
    DIR/server.key_secret   the sender's secret key      (stays on the sender's host)
    DIR/NAME.key            a receiver's public key
    DIR/NAME.key_secret     a receiver's secret key      (copy it to that receiver only)
    DIR/allowed/NAME.key    receivers the sender accepts (the allow-list)

The sender reads ``server.key_secret`` and ``allowed/``; a receiver reads
``server.key`` and ``NAME.key_secret`` (NAME ``client`` unless told otherwise).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from .. import ShmringError

SERVER = "server"
DEFAULT_CLIENT = "client"
ALLOWED = "allowed"


class CurveKeyError(ShmringError):
    """A CURVE key file is missing or unreadable (the message names it)."""


@dataclass(frozen=True)
class Curve:
    """Where a bridge end finds its CURVE keys.

    Attributes:
        directory: the key directory (see the module docstring).
        client: the receiver's key name in it.
    """

    directory: Path
    client: str = DEFAULT_CLIENT


def make_keys(directory: str | os.PathLike[str], client: str = DEFAULT_CLIENT) -> dict[str, Path]:
    """Create the sender's key pair (unless present) and a receiver key pair ``client``, allowed.

    Args:
        directory: the key directory; created (mode 0700) if missing.
        client: name of the receiver's key pair (letters, digits, ``._-``).

    Returns:
        The paths written or kept: ``server``, ``server_secret``, ``client``, ``client_secret``, ``allowed``.

    Raises:
        ValueError: ``client`` is not a plain file name, or is ``server``.
    """
    if not client or client == SERVER or not all(c.isalnum() or c in "._-" for c in client) or client[0] == ".":
        raise ValueError(f"client must be a plain name of letters, digits and ._- (not 'server'), got {client!r}")
    root = Path(directory)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    allowed = root / ALLOWED
    allowed.mkdir(mode=0o700, exist_ok=True)
    if not (root / f"{SERVER}.key_secret").exists():
        zmq.auth.create_certificates(str(root), SERVER)
    public, secret = zmq.auth.create_certificates(str(root), client)
    shutil.copyfile(public, allowed / f"{client}.key")
    for path in (root / f"{SERVER}.key_secret", Path(secret)):
        path.chmod(0o600)
    return {"server": root / f"{SERVER}.key", "server_secret": root / f"{SERVER}.key_secret",
            "client": Path(public), "client_secret": Path(secret), "allowed": allowed}


def _load(path: Path, secret: bool) -> tuple[bytes, bytes | None]:
    if not path.is_file():
        raise CurveKeyError(f"CURVE key file {str(path)!r} does not exist (make keys with: shmring bridge keys DIR)",
                        path=str(path))
    try:
        public, private = zmq.auth.load_certificate(str(path))
    except (ValueError, OSError) as err:
        raise CurveKeyError(f"CURVE key file {str(path)!r} is not a ZeroMQ certificate: {err}",
                            path=str(path)) from None
    if secret and private is None:
        raise CurveKeyError(f"CURVE key file {str(path)!r} holds no secret key", path=str(path))
    return public, private


def serve_curve(sock: zmq.Socket[Any], curve: Curve, context: zmq.Context[Any]) -> ThreadAuthenticator:
    """Make ``sock`` (the sender's, before bind) a CURVE server accepting only ``allowed/`` keys."""
    allowed = curve.directory / ALLOWED
    if not allowed.is_dir():
        raise CurveKeyError(f"CURVE allow-list {str(allowed)!r} does not exist", path=str(allowed))
    public, secret = _load(curve.directory / f"{SERVER}.key_secret", secret=True)
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve(domain="*", location=str(allowed))
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True
    return auth


def join_curve(sock: zmq.Socket[Any], curve: Curve) -> None:
    """Make ``sock`` (a receiver's, before connect) a CURVE client of the sender in ``curve``."""
    server_public, _ = _load(curve.directory / f"{SERVER}.key", secret=False)
    public, secret = _load(curve.directory / f"{curve.client}.key_secret", secret=True)
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_serverkey = server_public
