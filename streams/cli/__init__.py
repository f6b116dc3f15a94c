"""The `eddy` command line: one module per noun, assembled in `streams.cli.main`."""
