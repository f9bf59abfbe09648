"""``vidx serve``: a web UI (Gradio) over the same Python API as the CLI.

:mod:`vidx.serve.paths` decides which files may be read (clips under ``--root``, checked
uploads), :mod:`vidx.serve.checks` checks what a page asks for with the CLI's rules and the
server's limits, :mod:`vidx.serve.owners` says whose a job is, :mod:`vidx.serve.queue` runs the
queued API calls one at a time and keeps them in a JSON file, :mod:`vidx.serve.handlers` is
what each button does, :mod:`vidx.serve.app` lays the pages out and :mod:`vidx.serve.start`
checks the server's flags and starts it (what ``vidx serve`` calls).
Gradio is imported only by :mod:`vidx.serve.handlers` and :mod:`vidx.serve.app`, so the rest
works without the ``web`` extra.
"""
