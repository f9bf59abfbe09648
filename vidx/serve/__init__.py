"""``vidx serve``: a web UI (Gradio) over the same Python API as the CLI.

:mod:`vidx.serve.paths` decides which files may be read (clips under ``--root``, checked
uploads), :mod:`vidx.serve.jobs` runs the queued API calls one at a time and keeps them in a
JSON file, :mod:`vidx.serve.app` builds the pages and starts the server. Gradio is imported
only by :mod:`vidx.serve.app`, so the rest works without the ``web`` extra.
"""
