"""Launch the app: loopback by default; a non-loopback bind or a Gradio share link (only when
asked, --share) needs --auth unless --insecure. What is promised and tested: SECURITY.md."""

from __future__ import annotations

import os
from pathlib import Path

from tutor.errors import TutorError

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline by default: no usage pings

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class BadServe(TutorError):
    """Unsafe or malformed serving options."""


def parse_auth(auth: str | None) -> list[tuple[str, str]] | None:
    """'user:password' or a file of such lines → [(user, password)]. Raises BadServe."""
    if not auth:
        return None
    path = Path(auth)
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else [auth]
    pairs = [tuple(line.strip().split(":", 1)) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not pairs or any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
        raise BadServe("--auth must be user:password or a file of user:password lines")
    return pairs  # type: ignore[return-value]


def check_bind(host: str, creds, insecure: bool,
               how: str = "--auth user:password (or a file of such lines)", share: bool = False) -> None:
    """Refuse a non-loopback host, or a public share link, without credentials unless
    `insecure`; `how` names the option that supplies them (the web UI's --auth, the API's
    --token). Raises BadServe."""
    if creds or insecure:
        return
    if host not in LOOPBACK:
        raise BadServe(f"--host {host} exposes the tutor to the network: add {how}, "
                       "or --insecure to serve without a login")
    if share:
        raise BadServe(f"--share publishes the tutor on a public gradio.live link: add {how}, "
                       "or --insecure to share it without a login")


def serve(tutor, host: str, port: int, auth: str | None = None, insecure: bool = False, share: bool = False,
          block: bool = True):
    """Build and launch the app; returns (app, local_url) when block=False. Raises BadServe,
    or the index's 'run tutor ingest' error before the server starts."""
    creds = parse_auth(auth)
    check_bind(host, creds, insecure, share=share)
    from .app import build_app
    from .style import launch_options

    tutor.index  # fail fast with "run tutor ingest" before the server starts
    app = build_app(tutor)
    _, url, _ = app.launch(server_name=host, server_port=port, auth=creds, share=bool(share), inbrowser=False,
                           show_error=True, prevent_thread_lock=not block, quiet=not block, **launch_options())
    return app, url
