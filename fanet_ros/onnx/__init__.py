"""ONNX graph code in one place, shared by the export (fanet_training.export), the runtime
and the TensorRT engine builder: size-agnostic graphs (``sizes``), the labels and logits
heads (``heads``), Conv + affine folding (``folding``), what TensorRT's parser is given and
takes (``tensorrt_graph``) and the fp16 graph (``fp16``). Only ``onnx`` and NumPy."""
