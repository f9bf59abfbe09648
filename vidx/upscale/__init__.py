"""Upscale backends: classical resamplers, embedded Real-ESRGAN, any spandrel model file."""
