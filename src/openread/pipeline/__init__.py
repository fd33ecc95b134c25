"""The pipeline stages, in the order data flows through them.

    decode     bytes -> a validated page (``DecodedImage``)
    detect     page -> text regions (PP-OCR detection)
    orient     regions -> upright line crops (text-line orientation)
    recognize  crops -> recognised lines with character positions
    lexicon    word-level corrections from shipped word lists
    words      lines -> word spans with polygons
    rows       lines -> rows (lines that share a baseline)
    layout     lines and words -> blocks in reading order

``openread.engine`` runs them; each module has a small typed interface of its own.
"""
