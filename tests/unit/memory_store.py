"""A bucket in a dict, with ObjectStore's interface: fast enough for property tests of the drain."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.puts = 0
        self._lock = threading.Lock()

    def check_bucket(self) -> None:
        pass

    def put(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        with self._lock:
            self.objects[key] = (body, dict(metadata or {}))
            self.puts += 1

    def get(self, key: str) -> bytes:
        return self.objects[key][0]

    def metadata(self, key: str) -> dict[str, str]:
        return dict(self.objects[key][1])

    def delete(self, key: str) -> None:
        del self.objects[key]

    def list_keys(self, prefix: str, start_after: str | None = None) -> Iterator[str]:
        keys = sorted(k for k in self.objects if k.startswith(prefix))
        yield from keys[bisect.bisect_right(keys, start_after) if start_after else 0 :]

    def list_prefixes(self, prefix: str) -> list[str]:
        rests = [k[len(prefix) :] for k in self.objects if k.startswith(prefix)]
        return sorted({prefix + rest.split("/", 1)[0] + "/" for rest in rests if "/" in rest})
