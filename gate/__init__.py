"""gate: decide whether a container image may ship.

The stages are library APIs first; the ``gate`` CLI only wires them together::

    from gate.image import open_image

    with open_image("oci:sample/layout:demo") as image:
        print(image.digest, len(image.layers))
"""

__version__ = "0.1.0"
