"""Offline tools: phantoms, training, export, quantization, evaluation, benchmarks, fleet."""
