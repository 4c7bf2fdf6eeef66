"""One module per `tito` command: `add_arguments(parser)` and `run(args) -> exit code`."""
