"""`mnistlab serve`: a FastAPI app with the draw-a-digit page and the REST API."""

from mnistlab.serve.app import create_app

__all__ = ["create_app"]
