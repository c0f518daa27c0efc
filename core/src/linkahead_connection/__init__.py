"""The ``linkahead-connection`` distribution's own, import-light package.

It holds what must work before (or without) the package ``linkahead`` is imported:

- :data:`__version__`, this distribution's version (``linkahead.__version__`` is the upstream
  client's where that is installed, as its callers expect);
- :mod:`linkahead_connection.hook`, the import hook that serves the modules this distribution
  shares with the upstream ``linkahead`` client, installed at interpreter start by
  ``linkahead_connection.pth`` (and ``linkahead_connection.start`` on Python 3.15+).

Only the standard library is used here, and nothing is imported at interpreter start but ``os``
and ``sys``, which are loaded already.

PYTEST_DONT_REWRITE -- pytest marks every package of a distribution with a ``pytest11`` plugin for
assert rewriting, and warns about one already imported, as this one is by the hook.
"""

__version__ = "0.2.0"
