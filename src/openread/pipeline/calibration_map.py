"""The fitted word-confidence map (written by ``python -m bench.calibrate --write``;
do not edit by hand). See ``calibrate.py`` for the features.

Fitted on the fit half (even positions of the images sorted by name), words without
CJK characters, of: funsd 5 images / 553 words, icdar15 48 images / 230 words;
each subset weighted equally, L2 penalty 1.0.
Right = end-to-end match (IoU >= 0.5, texts agree loosely).
Expected calibration error (10 bins) when it was written:

    funsd fit: 553 words, ECE raw 0.121 -> calibrated 0.030;
        without its 0 CJK words 0.121 -> 0.030 (chance floor 0.026)
    funsd check: 760 words, ECE raw 0.050 -> calibrated 0.023;
        without its 1 CJK words 0.049 -> 0.024 (chance floor 0.017)
    icdar15 fit: 248 words, ECE raw 0.265 -> calibrated 0.055;
        without its 18 CJK words 0.222 -> 0.045 (chance floor 0.052)
    icdar15 check: 188 words, ECE raw 0.386 -> calibrated 0.119;
        without its 36 CJK words 0.281 -> 0.081 (chance floor 0.062)
"""

FEATURES: tuple[str, ...] = ("logit", "low_logit", "lexicon", "abs_height", "rel_height", "joined")
WEIGHTS: tuple[float, ...] = (0.352876, 1.019862, 2.447563, -0.656904, 0.284078, -1.673878)
BIAS: float = -3.807562
