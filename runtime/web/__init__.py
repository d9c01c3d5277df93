"""The technologist's page: live worklist, exam view with marks and heatmaps, biopsy and box views (docs/web.md).

A process apart from ``mammoedge serve`` that reads the service's state read-only.
"""

from .accounts import AccountStore, Role
from .app import create_app, web_dir
from .server import serve, tls_files

__all__ = ["AccountStore", "Role", "create_app", "serve", "tls_files", "web_dir"]
