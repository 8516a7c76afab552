"""The run report: report.html built from a run folder's metrics.jsonl and samples (imports nothing of
the package above it, so the trainer and the command-line rebuild share it)."""
