"""``linkahead.version`` where the upstream ``linkahead`` client is not installed.

Where it is, the import hook leaves ``linkahead.version`` (and so ``linkahead.__version__``) to
upstream's own module: tools built on the client compare that version. This distribution's
version is always :data:`linkahead_connection.__version__`.
"""

# Upstream linkahead ships a module of this name: the wheel carries this file under
# linkahead_connection/shared/ and the import hook serves it only where upstream's is absent.

from linkahead_connection import __version__ as __version__

version = __version__
"""Upstream's second name for it."""
