"""Script identification benchmark: how often openread labels a line with the right script.

    python -m bench.scripts [--data DIR] [--subsets a,b] [--limit N] [--threads N]

openread labels every line with the script it was read in (``Line.script``). For each image,
the letters of the ground truth are counted per script (Unicode ranges, ``openread.scripts.script``)
and so are the letters openread returned, each line's letters counted under that line's label.
The figures, per subset (letters summed over its images):

* ``agree``: letters whose label is right, min(GT, predicted) per script summed, over the larger
  of the two totals: 1.0 when every letter was read under the script it is written in (Han and
  kana count as one family: Japanese mixes them);
* ``foreign FP``: the share of predicted letters labelled with a script the page does not
  contain at all (a Latin sign read as Cyrillic, say);
* ``top confusions``: predicted label <- GT script, in letters;
* ``main right``: the share of images whose main script (most letters) openread labelled as the
  GT's main script (on the one-line subsets ``lines_*``: how often the line's script was chosen
  right).

The labels are judged by letter counts, not by text accuracy: a line labelled Arabic whose
reading is poor still counts as identified. Only openread labels lines, so no anchor runs.
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import openread
from openread.scripts.script import SCRIPTS, letters_in

from .accuracy import GtPage, _gt_bow_text, available_subsets, default_data_dir, load_subset
from .metrics import Region, drop_dont_care

_FAMILY = {"Jpan": "Hani"}


def _family(code: str) -> str:
    return _FAMILY.get(code, code)


def letters_by_script(text: str) -> collections.Counter[str]:
    """Letters of ``text`` counted per script family (letters of no known script skipped)."""
    counts: collections.Counter[str] = collections.Counter()
    for char in letters_in(text):
        for script in SCRIPTS:
            if script.contains(char):
                counts[_family(script.code)] += 1
                break
    return counts


@dataclass(frozen=True, slots=True)
class ScriptTally:
    """Letters of one page per script family: in the GT, and as openread labelled them."""

    gt: collections.Counter[str]
    predicted: collections.Counter[str]

    @property
    def right(self) -> int:
        return sum(min(n, self.predicted[s]) for s, n in self.gt.items())

    @property
    def letters(self) -> int:
        return max(sum(self.gt.values()), sum(self.predicted.values()))

    @property
    def main_right(self) -> bool:
        """Whether the script holding most predicted letters is the GT's main script."""
        if not self.gt or not self.predicted:
            return False
        return self.predicted.most_common(1)[0][0] == self.gt.most_common(1)[0][0]

    @property
    def stray(self) -> int:
        return sum(n for s, n in self.predicted.items() if s not in self.gt)

    def confusions(self) -> collections.Counter[tuple[str, str]]:
        """(label, GT script) -> letters: each label's surplus charged to the GT script most
        short of letters."""
        out: collections.Counter[tuple[str, str]] = collections.Counter()
        short = {s: n - self.predicted[s] for s, n in self.gt.items() if n > self.predicted[s]}
        for label, n in self.predicted.items():
            surplus = n - self.gt[label]
            if surplus > 0:
                source = max(short, key=lambda s: short[s]) if short else "none"
                out[(label, source)] += surplus
        return out


def tally(gt_text: str, lines: Sequence[tuple[str, str]]) -> ScriptTally:
    """``lines``: (script label, text) of each predicted line."""
    predicted: collections.Counter[str] = collections.Counter()
    for label, text in lines:
        count = len(letters_in(text))
        if count:
            predicted[_family(label) if label else "?"] += count
    return ScriptTally(letters_by_script(gt_text), predicted)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scripts", description=__doc__)
    parser.add_argument("--data", default=str(default_data_dir()))
    parser.add_argument("--subsets", default=None, help="comma-separated subsets")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    data = Path(args.data)
    subsets = args.subsets.split(",") if args.subsets else available_subsets(data)
    settings = openread.Settings(
        threads=args.threads, limits=openread.ImageLimits(relaxed=True), scripts=True
    )
    engine = openread.Engine.load(settings)
    print(
        "| subset | images | GT letters | scripts in GT | agree | foreign FP | top confusions "
        "| main right |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for subset in subsets:
        pages: list[GtPage] = load_subset(data, subset, args.limit)
        gt_total: collections.Counter[str] = collections.Counter()
        confusions: collections.Counter[tuple[str, str]] = collections.Counter()
        right = letters = predicted = stray = main_right = 0
        for page in pages:
            result = engine.read(page.image)
            # lines in don't-care regions (ICDAR ###) are left out, as bag-of-words does
            regions = [
                (Region(tuple((float(p.x), float(p.y)) for p in ln.polygon), ln.text), ln.script)
                for ln in result.lines
            ]
            cared = {id(r) for r in drop_dont_care([r for r, _ in regions], page.items)}
            lines = [(code, r.text) for r, code in regions if id(r) in cared]
            page_tally = tally(_gt_bow_text(page), lines)
            gt_total.update(page_tally.gt)
            confusions.update(page_tally.confusions())
            right += page_tally.right
            letters += page_tally.letters
            predicted += sum(page_tally.predicted.values())
            stray += page_tally.stray
            main_right += page_tally.main_right
        top = ", ".join(f"{p}<-{g} {n}" for (p, g), n in confusions.most_common(3)) or "–"
        scripts = " ".join(f"{s}:{n}" for s, n in gt_total.most_common(4))
        agree = right / letters if letters else 0.0
        foreign = stray / predicted if predicted else 0.0
        print(
            f"| {subset} | {len(pages)} | {sum(gt_total.values())} | {scripts} | "
            f"{agree:.3f} | {foreign:.3f} | {top} | {main_right}/{len(pages)} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
