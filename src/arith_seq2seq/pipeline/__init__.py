"""What every stage shares: the typed params, running a stage (its last good outputs
restored first, user errors as one message), atomic outputs and the error types."""
