"""The viewer's HTTP server: the page and its script from the package, JSON and PNGs from the dataset.

Standard library only (`http.server`), bound to the loopback interface: the page is for the person
at this machine, and serves nothing from elsewhere. Every failure a request meets (a missing
episode, a corrupt shard, an unreadable rollout) comes back as a JSON error line for the page to
show, and is printed once in the terminal.
"""
from __future__ import annotations

import errno
import json
import re
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from millivid_env.data.revisits import RevisitConfig
from millivid_env.errors import UserError
from millivid_env.view.catalog import DatasetCatalog
from millivid_env.view.rollouts import Rollout, find_rollouts

HOST = "127.0.0.1"
STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/viewer.js": ("viewer.js", "text/javascript; charset=utf-8"),
          "/viewer.css": ("viewer.css", "text/css; charset=utf-8")}


def png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise UserError(f"could not encode a {image.shape} frame as PNG")
    return encoded.tobytes()


class ViewerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, catalog: DatasetCatalog, rollouts: list[Rollout], problems: list[str], port: int,
                 log: Callable[[str], None] | None = None) -> None:
        self.catalog, self.rollouts, self.problems = catalog, {r.key: r for r in rollouts}, problems
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._reported: set[str] = set()
        self._report_lock = threading.Lock()
        try:
            super().__init__((HOST, port), ViewerHandler)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} is in use; pick another with --port") from None
            raise UserError(f"cannot serve on {HOST}:{port} ({e.strerror})") from None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"

    def report(self, message: str) -> None:
        """Print a problem in the terminal, once however often the page asks."""
        with self._report_lock:
            if message in self._reported:
                return
            self._reported.add(message)
        self.log(f"millivid view: {message}")

    # -- what the routes answer ------------------------------------------------------------------------
    def dataset(self) -> dict[str, Any]:
        catalog = self.catalog
        episodes = [] if catalog.error else catalog.episodes()
        return {"root": str(catalog.root), "name": catalog.meta.get("name", catalog.root.name), "error": catalog.error,
                "env_id": catalog.meta.get("env_id"), "revisit_context": catalog.revisits.context,
                "revisit_recent": catalog.revisits.recent, "episodes": episodes,
                "problems": self.problems, "rollouts": {r.key: r.label for r in self.rollouts.values()}}

    def episode(self, index: int) -> dict[str, Any]:
        entry = dict(self.catalog.episode(index))
        shown = [r for r in self.rollouts.values() if r.episode == index]
        entry["rollouts"] = []
        for rollout in shown:
            if rollout.first + rollout.count > entry["frames"]:
                self.report(f"rollout {rollout.label} runs to frame {rollout.first + rollout.count - 1}, "
                            f"past the {entry['frames']} frames of episode {index}; not shown")
                continue
            entry["rollouts"].append(rollout.summary())
        return entry

    def world_map(self, index: int) -> bytes:
        world = self.catalog.world(index)
        if world is None:
            raise UserError(f"episode {index} has no voxel world to map (recorded from {self.catalog.episode(index)['env_id'] or 'an unknown env'})")
        return png(world.top_down)

    def rollout_frame(self, key: str, t: int) -> bytes:
        if key not in self.rollouts:
            raise UserError(f"no rollout {key!r}")
        return png(self.rollouts[key].frame(t))


ROUTES: list[tuple[re.Pattern, str, Callable[[ViewerServer, re.Match], Any]]] = [
    (re.compile(r"/api/dataset"), "json", lambda s, m: s.dataset()),
    (re.compile(r"/api/episode/(\d+)"), "json", lambda s, m: s.episode(int(m[1]))),
    (re.compile(r"/api/episode/(\d+)/step/(\d+)"), "json", lambda s, m: s.catalog.step(int(m[1]), int(m[2]))),
    (re.compile(r"/api/episode/(\d+)/(rgb|depth|block_id)/(\d+)\.png"), "png",
     lambda s, m: png(s.catalog.frame(int(m[1]), m[2], int(m[3])))),
    (re.compile(r"/api/episode/(\d+)/map\.png"), "png", lambda s, m: s.world_map(int(m[1]))),
    (re.compile(r"/api/rollout/(\w+)/(\d+)\.png"), "png", lambda s, m: s.rollout_frame(m[1], int(m[2]))),
]


class ViewerHandler(BaseHTTPRequestHandler):
    server: ViewerServer
    protocol_version = "HTTP/1.1"  # keep-alive: scrubbing sends many small requests

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in STATIC:
            name, kind = STATIC[path]
            return self._send(HTTPStatus.OK, kind, resources.files("millivid_env.view").joinpath("static", name).read_bytes())
        for pattern, kind, answer in ROUTES:
            match = pattern.fullmatch(path)
            if match:
                try:
                    body = answer(self.server, match)
                except UserError as e:
                    message = str(e).splitlines()[0]
                    self.server.report(message)
                    return self._send(HTTPStatus.NOT_FOUND, "application/json", json.dumps({"error": message}).encode())
                if kind == "json":
                    return self._send(HTTPStatus.OK, "application/json", json.dumps(body).encode())
                return self._send(HTTPStatus.OK, "image/png", body, cache=True)
        self._send(HTTPStatus.NOT_FOUND, "application/json", json.dumps({"error": f"nothing at {path}"}).encode())

    def _send(self, status: HTTPStatus, kind: str, body: bytes, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # requests are many and routine; problems are reported
        pass


def serve(dataset: Path, rollout_folders: list[Path], port: int, revisit_context: int | None = None) -> ViewerServer:
    """A server for `dataset` and the rollouts under `rollout_folders`, not yet serving (call
    `serve_forever`). Problems with either are printed now and shown on the page. Revisits are
    marked against the first `revisit_context` frames: by default the context the rollouts were
    given, or `RevisitConfig`'s without rollouts."""
    rollouts, problems = find_rollouts(rollout_folders)
    if revisit_context is None and rollouts:  # the context the models were given is what a revisit returns to
        revisit_context = min(r.first for r in rollouts)
    catalog = DatasetCatalog(dataset, RevisitConfig() if revisit_context is None else RevisitConfig(context=revisit_context))
    server = ViewerServer(catalog, rollouts, problems, port)
    for problem in ([catalog.error] if catalog.error else []) + problems:
        server.report(problem)
    return server
