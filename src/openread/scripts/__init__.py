"""Scripts other than Latin: identification and the per-script readers.

script     the supported scripts and their languages
scriptid   which script a line is written in
tesseract  the Tesseract script models used for scripts PP-OCR does not read
"""
