"""Model files: arrays and JSON metadata in one zip, loaded without pickle.

    write(path, arrays, meta)       # atomic; arrays as .npy, meta as meta.json;
                                    # removes temporaries killed writes left
    arrays, meta = read(path)       # ModelFileError for missing, corrupt,
                                    # truncated, foreign, newer or oversized files
    read(path, check=fn)            # fn(meta, headers) sees every ArrayHeader
                                    # before any array data is read

Reading is bounded by the file's size (see ``xentlearn.io._format`` for the
rules and the limits below). This package knows nothing of estimators;
``xentlearn.estimators`` maps a fitted estimator to ``(arrays, meta)`` and back.
"""

from xentlearn.io._format import (
    EXPANSION_SLACK,
    FORMAT_VERSION,
    MAX_ENTRIES,
    MAX_EXPANSION,
    MAX_META_BYTES,
    MAX_META_CONTAINERS,
    MAX_META_DEPTH,
    MAX_META_VALUES,
    ArrayHeader,
    MetadataTooLargeError,
    read,
    write,
)

__all__ = [
    "ArrayHeader",
    "EXPANSION_SLACK",
    "FORMAT_VERSION",
    "MAX_ENTRIES",
    "MAX_EXPANSION",
    "MAX_META_BYTES",
    "MAX_META_CONTAINERS",
    "MAX_META_DEPTH",
    "MAX_META_VALUES",
    "MetadataTooLargeError",
    "read",
    "write",
]
