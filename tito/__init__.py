"""tito: the command line of the TinyTorch course."""
