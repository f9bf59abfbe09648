"""Video input and output with PyAV: probing, a threaded reader and a threaded writer."""
