"""Stage 3, differentiation: the tensor graph of a problem (`graph`), the reverse sweep that
derives every closed form and records each step (`sweep`), and local simplification
(`simplify`).  The op table (`symgrad.ops`) supplies the rules; this package does the
bookkeeping -- order, fan-out, broadcasting -- once for every op.
"""
