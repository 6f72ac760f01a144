"""A wrong, broken or frozen Label Studio address gives one clear line, never a traceback or a
hang (issue 11, items 12 and 14). Real local sockets stand in for the wrong servers."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest
from test_cli_errors import main_exit, one_error_line, real

from corpus.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    return Workspace.init(tmp_path / "ws")


@pytest.fixture
def web_page():
    """A web server that answers every request with an HTML page (not Label Studio)."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = (
                b"<!DOCTYPE html><html><body>"
                + b"<p>Welcome to nginx</p>" * 200
                + b"</body></html>"
            )
            status = 200 if self.path == "/" else 404
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def frozen():
    """A server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_invalid_url_is_one_line_through_the_real_entry_point(ws):
    r = real("project", "push", "-w", ws.root,
             env={"LABEL_STUDIO_URL": "http://[::1", "LABEL_STUDIO_API_KEY": "abcdef"})  # fmt: skip
    assert r.returncode == 1
    line = one_error_line(r.stderr)
    assert "LABEL_STUDIO_URL 'http://[::1' is not a usable address" in line


def test_a_web_page_is_not_label_studio(ws, web_page, capsys, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", web_page)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "abcdef")
    for args in (["project", "push"], ["project", "create"], ["pull"]):
        if args == ["pull"]:
            ws.write_state("project", {"project_id": 3, "server": web_page})
        code, _, err = main_exit([*args, "-w", ws.root], capsys)
        assert code == 1, err
        line = one_error_line(err)
        assert "does not answer like Label Studio's API" in line and "text/html" in line
        assert "nginx" not in err and "<html" not in err  # no page dump
        assert "deleted" not in err


def test_a_frozen_server_times_out_with_a_message(ws, frozen, capsys, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", frozen)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "abcdef")
    monkeypatch.setenv("CORPUS_LS_TIMEOUT", "1.5")
    t0 = time.monotonic()
    code, _, err = main_exit(["project", "push", "-w", ws.root], capsys)
    assert time.monotonic() - t0 < 20
    assert code == 1
    assert "did not answer within 1.5 s" in one_error_line(err)
    assert "CORPUS_LS_TIMEOUT" in err


def test_a_bad_timeout_setting_is_a_message(ws, capsys, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "abcdef")
    monkeypatch.setenv("CORPUS_LS_TIMEOUT", "soon")
    code, _, err = main_exit(["project", "push", "-w", ws.root], capsys)
    assert code == 1 and "CORPUS_LS_TIMEOUT='soon'" in one_error_line(err)
