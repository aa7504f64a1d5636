"""TFLite flatbuffers -> edgernn (workstation side).

``reader.read_tflite(path_or_bytes)`` parses a ``.tflite`` file into plain dataclasses
(``TFLModel`` -> ``Subgraph`` -> ``TensorInfo`` / ``Operator``) with the schema-generated
classes of the ``tflite`` package; the importer (TFLite ops -> IR, variables -> state)
builds on that.  The TFLite interpreter is only ever the reference in tests.
"""
