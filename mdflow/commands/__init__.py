"""The verbs of the command line, one function each over the library (mdflow/*.py).

A command takes the repository and the options the CLI parsed, does its work through the
library and returns what happened; it parses nothing, prints nothing, and imports no other
command. Printing is the CLI's (mdflow/cli/).
"""
