"""Arithmetic questions: their format, sampling and encoding, the .npz question sets and
their split."""
