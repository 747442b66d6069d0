"""The command line's exit statuses."""

# 0: done; 1: done, but some input rows were invalid or some benchmark cells failed (each is reported);
# 2: a mistake in what the user passed (one `biotag: error: ...` line), as argparse does.
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
