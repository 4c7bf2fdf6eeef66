"""TinyTorch: a small numpy-backed deep learning library, built one course module at a time.

`tinytorch.core` holds the code exported from the modules; `tinytorch.nn` and `tinytorch.optim`
gather it under short names.
"""
__version__ = "0.6.0"
