"""A real S3 API on loopback for the S3 archive, offline: moto's server in its own process.

``s3_server()`` starts moto's S3 server (``moto[server]``, in the ``dev`` extras) in a child
process on a socket this process has already bound and listens on (port 0, passed to the child
by file descriptor), so no other process can take the port between picking it and binding it.
It keeps no access log (werkzeug's, a formatted line per request). Unlike S3 it closes every
connection after its response (werkzeug's server sends ``Connection: close`` always), so each
request pays a loopback connect that keep-alive would save: S3 timings taken against it err on
the slow side.

Examples
--------
>>> import boto3
>>> from invoicekit.sandbox.s3 import s3_server
>>> with s3_server() as endpoint:  # doctest: +SKIP
...     s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
...                       aws_access_key_id="test", aws_secret_access_key="test")
...     s3.create_bucket(Bucket="audit-archive", ObjectLockEnabledForBucket=True)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from invoicekit.sandbox import _DIRECT, _terminate

__all__ = ["s3_server"]

#: The child: moto's WSGI application served on the inherited listening socket.
_SERVE = """\
import logging, os, sys
from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication, MotoRequestHandler, create_backend_app)

logging.getLogger("werkzeug").setLevel(logging.WARNING)
fd, port = int(sys.argv[1]), int(sys.argv[2])
os.environ["MOTO_PORT"] = str(port)
app = DomainDispatcherApplication(create_backend_app)
make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler,
            fd=fd).serve_forever()
"""


@contextmanager
def s3_server(*, start_timeout_s: float = 30) -> Iterator[str]:
    """Run moto's S3 server on a free loopback port; yields its endpoint URL.

    Parameters
    ----------
    start_timeout_s : float, optional
        How long to wait for the server to answer before giving up.

    Yields
    ------
    str
        ``http://127.0.0.1:PORT``, for ``endpoint_url=`` or ``AWS_ENDPOINT_URL_S3``.

    Raises
    ------
    RuntimeError
        The server exited (moto not installed: ``pip install 'moto[server]'``) or did not answer
        within ``start_timeout_s``; the message is one line saying which.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    errors = tempfile.TemporaryFile()  # what the child says, read only if it fails to start
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(listener.fileno()), str(port)],
        pass_fds=(listener.fileno(),),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    listener.close()  # the child holds the socket now
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout_s
    try:
        while True:
            try:
                with _DIRECT.open(f"{url}/moto-api/", timeout=1):
                    break
            except OSError:
                if proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                exited = proc.poll() is not None
                _terminate(proc)
                errors.seek(0)
                said = errors.read().decode(errors="replace").strip().splitlines()
                why = (
                    f"it exited: {said[-1] if said else 'no message'}"
                    if exited
                    else f"no answer in {start_timeout_s:g} s"
                )
                fix = "; install it with: pip install 'moto[server]'" if "moto" in why else ""
                raise RuntimeError(
                    f"moto's S3 server did not start on {url} ({why}){fix}"
                ) from None
        yield url
    finally:
        _terminate(proc)
        errors.close()
