"""The trace viewer: pages over traces for a browser, shared by `prtrace view` and the server."""
