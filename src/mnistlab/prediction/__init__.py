"""Prediction: a person's image in, an answer out, from a run folder alone.

`images` opens files safely, `preprocess` and `framing` put the ink where MNIST puts it,
`classifier` holds `Classifier`, and `export` writes a run as one ONNX file and reads it
back through onnxruntime.
"""
