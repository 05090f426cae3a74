"""What every stage shares: reading params sections into typed configs (and the sections
that need nothing above this floor), running a stage (its last good outputs restored first,
user errors as one message), atomic outputs and the error types. Nothing here imports from
the packages above it."""
