"""Restyle backends: the embedded style network and Stable Diffusion img2img."""
