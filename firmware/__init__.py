"""The device layer: update bundles, signing, A/B slots, health check, identity, accelerator probe."""
