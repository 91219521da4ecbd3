"""TensorRT: engine building, caching and validation, apart from the node."""
