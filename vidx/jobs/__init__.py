"""The job family: planning and running a job (run), resumable segments and carried state, image
sequences, stills, batches, variants, previews, the style gallery, job files and before/after
videos. Each module is imported by its own name; this package holds none of their names."""
