"""Peak memory of decoding the worst accepted image of each format and mode.

```bash
python -m bench.memory               # every case at the largest accepted size (16000 x 5592)
python -m bench.memory --side 4000   # a quicker run at 4000 x 4000
```

For each case a child process writes the image (a solid page with a little noise, so it stays
far under the 20 MB byte limit), and a fresh child reads those bytes, records its ``VmRSS``, runs
``openread.pipeline.decode.decode_bytes`` and reads ``VmHWM`` (the peak since it started). The
table prints the peak added by decoding (``peak - before``, MiB) and bytes per pixel. Only the
decode stage is measured (it makes the largest copies; later stages work on the 3-byte BGR
result, downscaled). WEBP has its own, lower pixel limit (``decode.WEBP_MAX_PIXELS``), so its
case is measured at the largest WEBP accepted at that width (16000 x 3000). The check: each
case under 1 GiB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["CASES", "main"]

CASES = (
    ("PNG", "I;16"),
    ("PNG", "RGBA"),
    ("PNG", "1"),
    ("PNG", "P+transparency"),
    ("TIFF", "CMYK"),
    ("JPEG", "CMYK"),
    ("WEBP", "RGBA"),
    ("TIFF", "I;16"),
)
LIMIT_MIB = 1024.0

_WRITE = """
import sys
import numpy as np
from PIL import Image
fmt, mode, w, h, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
if mode == "I;16":
    a = np.full((h, w), 50000, dtype=np.uint16)
    a[::97, ::89] = 1000
    image = Image.fromarray(a)
elif mode == "P+transparency":
    image = Image.new("P", (w, h), 1)
    image.putpalette([255, 255, 255, 0, 0, 0] * 128)
    image.info["transparency"] = 0
else:
    image = Image.new(mode, (w, h))
kwargs = {"transparency": 0} if mode == "P+transparency" else {}
if fmt == "WEBP":
    kwargs["lossless"] = True
if fmt == "TIFF":
    kwargs["compression"] = "tiff_deflate"
image.save(out, fmt, **kwargs)
"""

_MEASURE = """
import sys, re
from pathlib import Path
from openread.pipeline.decode import decode_bytes
from openread.settings import ImageLimits
def status(key):
    text = Path("/proc/self/status").read_text()
    return int(re.search(key + r":\\s+(\\d+) kB", text).group(1)) / 1024
data = Path(sys.argv[1]).read_bytes()
before = status("VmRSS")
decoded = decode_bytes(data, ImageLimits())
print(before, status("VmHWM"), decoded.width, decoded.height, len(data))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16_000)
    parser.add_argument("--height", type=int, default=5_592)
    parser.add_argument("--side", type=int, default=0, help="square side (overrides both)")
    args = parser.parse_args(argv)
    from openread.pipeline.decode import WEBP_MAX_PIXELS

    width, height = (args.side, args.side) if args.side else (args.width, args.height)
    print("| format | mode | size | bytes | decode peak MiB | bytes/pixel | < 1 GiB |")
    print("|---|---|---|---:|---:|---:|---|")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, mode in CASES:
            rows = min(height, WEBP_MAX_PIXELS // width) if fmt == "WEBP" else height
            path = Path(tmp) / f"case.{fmt.lower()}"
            subprocess.run(
                [sys.executable, "-c", _WRITE, fmt, mode, str(width), str(rows), str(path)],
                check=True,
            )
            done = subprocess.run(
                [sys.executable, "-c", _MEASURE, str(path)],
                check=False,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                failed += 1
                reason = done.stderr.strip().splitlines()[-1:] or ["?"]
                print(
                    f"| {fmt} | {mode} | {width}x{rows} | {path.stat().st_size} | "
                    f"error: {reason[0]} | | no |"
                )
                continue
            before, peak, w, h, size = done.stdout.split()
            added = float(peak) - float(before)
            ok = added < LIMIT_MIB
            failed += not ok
            per_pixel = added * 1024 * 1024 / (int(w) * int(h))
            print(
                f"| {fmt} | {mode} | {w}x{h} | {size} | {added:.0f} | {per_pixel:.1f} | "
                f"{'yes' if ok else 'NO'} |"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
