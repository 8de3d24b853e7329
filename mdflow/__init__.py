"""mdflow: version datasets next to your code with Git, with MLflow as storage backend.

Importing this package stays cheap: no MLflow, pandas or pyarrow is imported here.
"""

__version__ = "0.1.0"
