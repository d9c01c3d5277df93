"""The microcalcification detector: model, training, export, INT8 quantization, evaluation."""
