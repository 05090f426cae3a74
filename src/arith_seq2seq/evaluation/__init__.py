"""Scoring a trained model: the test split, the longer held-out sets and the whole
question space, with breakdowns, error cases and a map."""
