"""Results in the Kubernetes test-history layout (TestGrid, Prow, Kettle): layout, sinks, JUnit,
scrubbing, lint, the build record and the abort machinery. `python -m upload` is its CLI."""
