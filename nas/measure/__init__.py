"""Measuring a network without training it: MACs/params counted, latency, memory, zero-cost scores, ONNX."""
