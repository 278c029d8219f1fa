"""AES-256-GCM sealing throughput: 100,000 records of ~200 bytes, with per-subject keys and
row-binding associated data, as the vault does it. Crypto must never be the bottleneck.

    .venv/bin/python bench/crypto_throughput.py [--records 100000] [--subjects 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.vault.crypto import new_key, open_sealed, seal  # noqa: E402
from pipeline.vault.store import record_aad  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--subjects", type=int, default=1_000)
    args = ap.parse_args()
    keys = [new_key() for _ in range(args.subjects)]
    payloads = [os.urandom(100).hex().encode() for _ in range(args.records)]  # 200 bytes each
    aads = [record_aad(f"r{i}", "qi_transcripts", f"s{i % args.subjects}") for i in range(args.records)]
    t = time.perf_counter()
    sealed = [seal(keys[i % args.subjects], p, a) for i, (p, a) in enumerate(zip(payloads, aads))]
    enc = time.perf_counter() - t
    t = time.perf_counter()
    for i, ((nonce, ct), a) in enumerate(zip(sealed, aads)):
        open_sealed(keys[i % args.subjects], nonce, ct, a)
    dec = time.perf_counter() - t
    print(f"{args.records} records of 200 bytes, {args.subjects} keys: "
          f"encrypt {enc:.3f} s ({args.records / enc:,.0f}/s), decrypt {dec:.3f} s ({args.records / dec:,.0f}/s)")


if __name__ == "__main__":
    main()
