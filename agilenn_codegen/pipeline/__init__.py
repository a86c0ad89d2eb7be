"""The AgileNN device pipeline: an exported model folder -> int8 device network + feature split,
remote-feature quantizer, packing/LZW, framing and the alpha combiner, in generated C and in a
Python reference that the generated C is checked against byte for byte."""
