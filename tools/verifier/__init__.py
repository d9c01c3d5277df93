"""The cluster verifier: mined candidate clusters -> a small ROI CNN that tells real clusters from false ones."""
