"""A read-only image registry on 127.0.0.1 for `pull` tests: no registry is
reachable here, so one image saved from the local engine (`docker save`) is
served with the Docker Registry HTTP API V2 (manifest schema 2, gzipped
layers). The engine trusts 127.0.0.0/8 registries over plain HTTP by default."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_blobs(saved: bytes) -> tuple[bytes, dict[str, bytes]]:
    """(manifest, blobs by digest) for the first image of a `docker save` archive."""
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        entry = json.loads(tar.extractfile("manifest.json").read())[0]
        config = tar.extractfile(entry["Config"]).read()
        blobs = {_digest(config): config}
        layers = []
        for name in entry["Layers"]:
            packed = gzip.compress(tar.extractfile(name).read(), mtime=0)
            blobs[_digest(packed)] = packed
            layers.append(
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(packed),
                    "digest": _digest(packed),
                }
            )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": _digest(config),
            },
            "layers": layers,
        }
    ).encode()
    return manifest, blobs


class Registry:
    """Serves `repo:tag` for every repo name; counts the manifest requests (pulls)."""

    def __init__(self, saved: bytes, tag: str):
        self.manifest, self.blobs = image_blobs(saved)
        self.tag = tag
        self.pulls = 0
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

            def _send(self, code: int, body: bytes = b"", ctype: str = "application/json", digest: str = ""):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                if digest:
                    self.send_header("Docker-Content-Digest", digest)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts == ["v2"]:
                    return self._send(200, b"{}")
                if len(parts) >= 4 and parts[0] == "v2" and parts[-2] == "manifests":
                    ref = parts[-1]
                    if ref in (registry.tag, _digest(registry.manifest)):
                        registry.pulls += 1  # HEAD or GET: the engine asked for the image
                        return self._send(200, registry.manifest, MANIFEST, _digest(registry.manifest))
                    return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}')
                if (
                    len(parts) >= 4
                    and parts[0] == "v2"
                    and parts[-2] == "blobs"
                    and parts[-1] in registry.blobs
                ):
                    blob = registry.blobs[parts[-1]]
                    return self._send(200, blob, "application/octet-stream", parts[-1])
                return self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
