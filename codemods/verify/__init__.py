"""The build gate: prove a plan with real kustomize builds, and preview what Flux applies differently."""
