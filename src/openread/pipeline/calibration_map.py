"""The fitted word-confidence map (written by ``python -m bench.calibrate --write``;
do not edit by hand). See ``calibrate.py`` for the features.

Fitted on the fit half (even positions of the images sorted by name), all words, of:
funsd 5 images / 553 words, icdar15 48 images / 248 words;
each subset weighted equally, L2 penalty 1.0.
Right = end-to-end match (IoU >= 0.5, texts agree loosely).
Expected calibration error (10 bins) when it was written:

    funsd fit: 553 words, ECE raw 0.121 -> calibrated 0.026;
        without its 0 CJK words 0.121 -> 0.026 (chance floor 0.025)
    funsd check: 763 words, ECE raw 0.050 -> calibrated 0.025;
        without its 1 CJK words 0.049 -> 0.025 (chance floor 0.016)
    icdar15 fit: 248 words, ECE raw 0.265 -> calibrated 0.032;
        without its 18 CJK words 0.222 -> 0.030 (chance floor 0.052)
    icdar15 check: 188 words, ECE raw 0.386 -> calibrated 0.088;
        without its 36 CJK words 0.281 -> 0.089 (chance floor 0.063)
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
    0.345169,
    1.011233,
    2.511078,
    -0.719913,
    0.306339,
    -1.598209,
    -2.055534,
)
BIAS: float = -4.066096
