"""Infrastructure every stage uses: errors, the killable worker pool, the
SQLite store base, atomic file writes and the dtype table.

This package sits at the bottom of the import graph: it imports no other
package of seamfuzz, and no stage imports another stage for these.
"""
