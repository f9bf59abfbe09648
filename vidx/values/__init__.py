"""What option values may be, checked with nothing above :mod:`vidx.errors`: the grammars and
limits :mod:`vidx.options` checks each value with where it is declared (the pixel limit, paths,
``--keep`` boxes, ``--ray`` addresses, ``--style`` specs, the encoder settings). The layers that
act on these values import them from here (or from their old homes, which re-export them).
"""
