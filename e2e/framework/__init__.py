"""What the e2e tests share: waits (watch + deadline), object builders, the runner-pod launcher,
HTTP probes, multi-cluster fan-out, federated services and their resolver, capability checks."""
