"""The victim of the random-kill crash test: one ingest (drain, commit, load) whose uploads take a
random while, so that a kill lands with uploads in flight and later objects ahead of earlier ones."""

from __future__ import annotations

import random
import sys
import time

from include.cdc.archive.storage import ObjectStore
from tests.integration.warehouse import ingest


def main(seed: int) -> None:
    jitter = random.Random(seed)
    put = ObjectStore.put

    def slow_put(self, key, body, metadata=None):
        time.sleep(jitter.uniform(0.02, 0.4))
        put(self, key, body, metadata)

    ObjectStore.put = slow_put
    ingest()


if __name__ == "__main__":
    main(int(sys.argv[1]))
