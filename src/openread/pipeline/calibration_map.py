"""The fitted word-confidence map (written by ``python -m bench.calibrate --write``;
do not edit by hand). See ``calibrate.py`` for the features.

Fitted on every image, all words, of:
funsd 10 images / 1316 words, icdar15 97 images / 436 words;
each subset weighted equally, L2 penalty 1.0.
Right = end-to-end match (IoU >= 0.5, texts agree loosely).
Expected calibration error (10 bins) held out, each word scored by the map of the same
features fitted without its image (bench/results/calibration_folds.json):

    funsd: 10 images, 1316 words (5-fold by image), ECE raw 0.080 -> held out 0.017;
        chance floor 0.013; without CJK words 0.017
    icdar15: 97 images, 436 words (5-fold by image), ECE raw 0.318 -> held out 0.040;
        chance floor 0.036; without CJK words 0.032

and in-sample, by half, with this map:

    funsd fit: 553 words, ECE raw 0.121 -> calibrated 0.034;
        without its 0 CJK words 0.121 -> 0.034 (chance floor 0.024)
    funsd check: 763 words, ECE raw 0.050 -> calibrated 0.015;
        without its 1 CJK words 0.049 -> 0.015 (chance floor 0.015)
    icdar15 fit: 248 words, ECE raw 0.265 -> calibrated 0.041;
        without its 18 CJK words 0.223 -> 0.042 (chance floor 0.049)
    icdar15 check: 188 words, ECE raw 0.386 -> calibrated 0.060;
        without its 36 CJK words 0.281 -> 0.067 (chance floor 0.059)
"""

FEATURES: tuple[str, ...] = (
    "logit",
    "low_logit",
    "lexicon",
    "abs_height",
    "rel_height",
    "joined",
    "cjk_minority",
)
WEIGHTS: tuple[float, ...] = (
    0.30643,
    1.294721,
    2.992839,
    -1.029113,
    0.464999,
    -1.689267,
    -2.989923,
)
BIAS: float = -5.132701
