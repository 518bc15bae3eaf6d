"""Every op numgrad has, each defined once.

Each ops module may export ``TENSOR_METHODS`` (method name -> function) and
``PUBLIC`` (names exported as ``numgrad.<name>``); ``numgrad/__init__.py``
binds them, so adding an op never means editing the Tensor class.
"""
