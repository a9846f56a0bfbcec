"""Launch the app: loopback by default; a public bind needs --auth unless --insecure."""

from __future__ import annotations

from pathlib import Path

from tutor.errors import TutorError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_auth(auth: str | None) -> list[tuple[str, str]] | None:
    """'user:password' or a file of such lines → [(user, password)]. Raises TutorError."""
    if not auth:
        return None
    lines = Path(auth).read_text(encoding="utf-8").splitlines() if Path(auth).is_file() else [auth]
    pairs = [tuple(line.split(":", 1)) for line in lines if line.strip()]
    if not pairs or any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
        raise TutorError("--auth must be user:password or a file of user:password lines")
    return pairs  # type: ignore[return-value]


def serve(tutor, host: str, port: int, auth: str | None = None, insecure: bool = False, share: bool = False) -> None:
    creds = parse_auth(auth)
    if host not in LOOPBACK and not creds and not insecure:
        raise TutorError(f"--host {host} exposes the tutor to the network: add --auth user:password (or --insecure)")
    from .app import build_app

    tutor.index  # fail fast with "run tutor ingest" before the server starts
    app = build_app(tutor)
    app.queue(default_concurrency_limit=1)
    app.launch(server_name=host, server_port=port, auth=creds, share=share, inbrowser=False, show_error=True)
