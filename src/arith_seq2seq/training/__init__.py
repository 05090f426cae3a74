"""Training: the LightningModule, the data module, fit() and resuming an interrupted run."""
